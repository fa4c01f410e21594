"""Speech synthesis on a loaded engine: ChatTTS (the course's model) or eSpeak NG (offline, robotic).

Both take the text in sentence pieces (studio.speech.tokens.sentences) and return one float32 waveform.
ChatTTS: the voice seed samples the speaker (a string that can be pasted back to keep the voice) and seeds
the audio-code sampling; the text seed seeds the refine step, whose output (filler words, laughs, pauses
written in as tokens) is shown before it is spoken.
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field

import numpy as np
import torch

from studio.core.errors import StudioError
from studio.speech import tokens as speech_tokens


CHATTTS_RATE = 24_000
GAP_SECONDS = 0.15  # silence between sentence pieces


@dataclass
class SpeechJob:
    text: str
    seed: int  # voice seed (ChatTTS speaker + audio codes)
    text_seed: int = 0  # ChatTTS refine step
    speaker: str | None = None  # a pasted speaker string wins over the voice seed
    refine: bool = True
    oral: int = 2
    laugh: int = 0
    pause: int = 6
    speed: int = 5
    temperature: float = 0.3
    top_p: float = 0.7
    top_k: int = 20
    voice: str = "cmn"  # eSpeak
    rate: int = 175
    pitch: int = 50
    volume: int = 100
    pieces: list[str] = field(default_factory=list)
    stop: object = None  # a threading.Event: eSpeak stops before its next piece (ChatTTS infers all at once)


@dataclass
class Speech:
    audio: np.ndarray
    sample_rate: int
    speaker: str | None = None
    refined: str | None = None


def join(parts: list[np.ndarray], rate: int) -> np.ndarray:
    gap = np.zeros(int(GAP_SECONDS * rate), np.float32)
    out = []
    for i, part in enumerate(parts):
        out += [gap, part] if i else [part]
    return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)


def speak_espeak(engine, job: SpeechJob) -> Speech:
    parts = []
    for p in job.pieces:
        if job.stop is not None and job.stop.is_set():
            raise StudioError("stopped")
        parts.append(engine.synth(p, job.voice, job.rate, job.pitch, job.volume))
    return Speech(join(parts, engine.sample_rate), engine.sample_rate)


def speaker_for(chat, seed: int) -> str:
    """The voice seed's speaker string: the same seed gives the same string (and so the same voice)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return chat.sample_random_speaker()


def speak_chattts(chat, job: SpeechJob) -> Speech:
    import ChatTTS
    speaker = job.speaker or speaker_for(chat, job.seed)
    quiet = contextlib.redirect_stdout(io.StringIO())  # ChatTTS prints progress bars
    pieces = job.pieces
    refined = None
    if job.refine:
        refine = ChatTTS.Chat.RefineTextParams(prompt=speech_tokens.refine_prompt(job.oral, job.laugh, job.pause),
                                               manual_seed=job.text_seed, show_tqdm=False)
        with quiet:
            pieces = list(chat.infer(pieces, refine_text_only=True, params_refine_text=refine, split_text=False))
        refined = "".join(pieces)
    code = ChatTTS.Chat.InferCodeParams(prompt=f"[speed_{int(job.speed)}]", spk_emb=speaker,
                                        temperature=job.temperature, top_P=job.top_p, top_K=job.top_k,
                                        manual_seed=job.seed, show_tqdm=False)
    with quiet:
        waves = chat.infer(pieces, skip_refine_text=True, params_infer_code=code, split_text=False)
    parts = [np.asarray(w, np.float32).reshape(-1) for w in waves]
    return Speech(join(parts, CHATTTS_RATE), CHATTTS_RATE, speaker, refined)


def speaker_is_valid(chat, speaker: str) -> bool:
    """A pasted speaker string decodes to an embedding of this model's size."""
    from ChatTTS.model.speaker import Speaker
    try:
        return Speaker._decode(speaker.strip()).shape[0] == chat.speaker.dim
    except Exception:  # not base16384, not LZMA, wrong length: all mean "not a speaker string"
        return False
