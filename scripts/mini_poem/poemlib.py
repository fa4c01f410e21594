"""Shared pieces of the mini-poem scripts: text format, cleaning, the character tokenizer, line splitting.

Text format of one training sample (after OpenCC t2s), between the tokenizer's <s> and </s>:

    title：line，line。line，line。      (about half of the poems, chosen by a hash of the poem)
    line，line。line，line。            (the other half)

so a start of a few characters continues a poem line, and "title：" asks for a poem with that title.
Only regulated-looking poems are kept: every line 5 characters, or every line 7 characters.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path


PUNCT = "，。？！；"  # line ends
TITLE_SEP = "："
PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIALS = [PAD, BOS, EOS, UNK]  # ids 0..3
CONTEXT = 128  # n_positions of the model; also the tokenizer's model_max_length

_NOTE = re.compile(r"（[^（）]*）|\([^()]*\)|〖[^〖〗]*〗")
_LINE_END = re.compile(f"[{PUNCT}]")
_ASCII_PUNCT = {",": "，", ".": "。", "?": "？", "!": "！", ";": "；", ":": "："}


def is_han(ch: str) -> bool:
    """CJK unified ideographs, extension A and the supplementary planes' ideographs."""
    o = ord(ch)
    return 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x3FFFF


def strip_notes(text: str) -> str:
    """Remove editors' notes in brackets (（一作…）, 〖1〗…), keep characters supplied in [ ], drop whitespace."""
    previous = None
    while previous != text:  # nested notes: innermost first
        previous, text = text, _NOTE.sub("", text)
    text = text.replace("[", "").replace("]", "")
    return re.sub(r"\s+", "", text)


def clean_body(paragraphs: list[str]) -> str | None:
    """The poem body if it is a clean 5- or 7-character poem, else None."""
    body = strip_notes("".join(paragraphs))
    if not body or body[-1] not in PUNCT:
        return None
    if any(not (is_han(ch) or ch in PUNCT) for ch in body):
        return None  # □ (lost characters), {composed characters}, quotes, ...
    lines = _LINE_END.split(body)[:-1]
    lengths = {len(line) for line in lines}
    if len(lines) < 2 or len(lengths) != 1 or lengths.pop() not in (5, 7):
        return None
    return body


def clean_title(title: str, max_chars: int = 8) -> str | None:
    """A short title (the part before a series number such as "帝京篇十首 一"), or None."""
    title = strip_notes(title.split(" ")[0].split("\u3000")[0])
    if 1 <= len(title) <= max_chars and all(is_han(ch) for ch in title):
        return title
    return None


def stable_fraction(text: str) -> float:
    """A number in [0, 1) fixed by the text (sha1), for deterministic splits and choices."""
    return int(hashlib.sha1(text.encode("utf-8")).hexdigest()[:12], 16) / 16**12


def format_poem(title: str | None, body: str) -> str:
    return f"{title}{TITLE_SEP}{body}" if title else body


def line_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each complete line of a text: the pieces ended by one of ，。？！； after the title (if any).

    A trailing piece that no punctuation ended (generation stopped by the length limit) is not a line.
    """
    start = text.index(TITLE_SEP) + 1 if TITLE_SEP in text else 0
    spans = []
    for m in _LINE_END.finditer(text, start):
        spans.append((start, m.start()))
        start = m.end()
    return spans


def poem_lines(text: str) -> list[str]:
    return [text[a:b] for a, b in line_spans(text)]


def build_tokenizer(chars: list[str]):
    """A character-level PreTrainedTokenizerFast: WordLevel over `chars`, one token per character.

    Any text tokenizes: unknown characters become <unk>, whitespace is dropped and ASCII punctuation is
    mapped to the full-width forms of the corpus. Encoding adds <s> in front (generation starts from it).
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIALS + [c for c in chars if c not in SPECIALS])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.normalizer = normalizers.Sequence(
        [normalizers.Replace(Regex(r"\s+"), "")] + [normalizers.Replace(a, b) for a, b in _ASCII_PUNCT.items()])
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"."), behavior="isolated")
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, vocab[BOS])])
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, unk_token=UNK, pad_token=PAD,
        model_max_length=CONTEXT, padding_side="left", clean_up_tokenization_spaces=False)


def encode_poems(tokenizer, texts: list[str]) -> list[list[int]]:
    """<s> text </s> ids for each text."""
    ids = tokenizer(texts, add_special_tokens=True)["input_ids"]
    return [seq + [tokenizer.eos_token_id] for seq in ids]


def read_lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").split("\n") if line]


def eval_loss(model, sequences: list[list[int]], pad_id: int, batch: int = 64) -> float:
    """Mean next-token NLL (nats) over all tokens after <s> of each held-out poem, one poem per row (no packing)."""
    import torch
    import torch.nn.functional as F

    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(sequences), batch):
            chunk = sequences[i:i + batch]
            width = max(len(s) for s in chunk)
            ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for r, s in enumerate(chunk):
                ids[r, :len(s)] = torch.tensor(s)
                mask[r, :len(s)] = 1
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
            target = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
            total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                                     ignore_index=-100, reduction="sum").item()
            count += int((target != -100).sum())
    model.train(was_training)
    return total / max(count, 1)


def unigram_loss(train: list[list[int]], held: list[list[int]], vocab_size: int) -> float:
    """Mean NLL (nats) of the held-out tokens under add-one-smoothed unigram counts of the training tokens.

    Counted over the tokens a model predicts (everything after <s>, </s> included); the smoothing spreads over
    the vocabulary minus <pad> and <s>, which are never predicted."""
    import numpy as np

    counts = np.zeros(vocab_size, dtype=np.float64)
    for s in train:
        np.add.at(counts, np.asarray(s[1:]), 1)
    probs = (counts + 1) / (counts.sum() + vocab_size - 2)
    tokens = np.concatenate([np.asarray(s[1:]) for s in held])
    return float(-np.log(probs[tokens]).mean())
