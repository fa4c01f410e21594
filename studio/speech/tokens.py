"""ChatTTS's control tokens, as the course teaches them (module 语音合成).

Sentence level, in the refine prompt: [oral_0-9] (filler words), [laugh_0-2], [break_0-7] (pauses).
Word level, inline in the text: [uv_break] (short pause), [laugh], [lbreak] (long pause); they need the
refine step off. Speed: [speed_0-9] in the code prompt.
"""
from __future__ import annotations

import re

from studio.core.errors import StudioError


SENTENCE_LEVEL = {"oral": 9, "laugh": 2, "break": 7}  # [name_N], N from 0 to the value
WORD_LEVEL = ("uv_break", "laugh", "lbreak")
TOKEN = re.compile(r"\[([A-Za-z_]+?)(?:_(\d+))?\]")
SENTENCE_END = re.compile(r"(?<=[。！？!?；;…\n])|(?<=\.)\s+")
MAX_SENTENCE = 200  # characters per piece the engines get at once


def tokens(text: str) -> list[str]:
    return [m.group(0) for m in TOKEN.finditer(text)]


def check(text: str) -> str:
    """The text with its tokens checked: unknown ones are refused, naming the ones that exist."""
    for m in TOKEN.finditer(text):
        name, number = m.group(1), m.group(2)
        ok = (number is None and name in WORD_LEVEL) or \
             (number is not None and name in SENTENCE_LEVEL and int(number) <= SENTENCE_LEVEL[name])
        if not ok:
            raise StudioError("unknown_speech_token", token=m.group(0), known=known())
    if not strip(text).strip():
        raise StudioError("speech_only_tokens" if tokens(text) else "empty_text")
    return text


def known() -> str:
    return ", ".join([f"[{n}_0-{top}]" for n, top in SENTENCE_LEVEL.items()] + [f"[{w}]" for w in WORD_LEVEL])


def strip(text: str) -> str:
    return TOKEN.sub("", text)


def word_level(text: str) -> list[str]:
    return [t for t in tokens(text) if t[1:-1] in WORD_LEVEL]


def refine_prompt(oral: int, laugh: int, pause: int) -> str:
    """The sentence-level controls as ChatTTS's refine prompt, e.g. [oral_2][laugh_0][break_6]."""
    return f"[oral_{int(oral)}][laugh_{int(laugh)}][break_{int(pause)}]"


def sentences(text: str) -> list[str]:
    """Long text in pieces the engines take at once: at sentence ends, and long sentences cut at commas or
    at MAX_SENTENCE characters (never inside a [token])."""
    pieces = []
    for sentence in (p.strip() for p in SENTENCE_END.split(text)):
        while len(sentence) > MAX_SENTENCE:
            cut = max(sentence.rfind(c, 0, MAX_SENTENCE) for c in "，,、 ")
            cut = cut + 1 if cut > 0 else MAX_SENTENCE
            while sentence.rfind("[", 0, cut) > sentence.rfind("]", 0, cut):  # inside a token: cut before it
                cut = sentence.rfind("[", 0, cut)
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if strip(sentence).strip():
            pieces.append(sentence)
        elif pieces and sentence:  # a lone token (a pause) belongs to the piece before it
            pieces[-1] += sentence
    return pieces
