"""What the public API returns: small dataclasses, each with the notices a user should see."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image


@dataclass
class ImageResult:
    images: list[Image.Image]  # each carries its `parameters` text in image.info
    seeds: list[int]
    infotexts: list[str]
    notices: list[str] = field(default_factory=list)  # rounded, clamped or truncated inputs, in the caller's language
    paths: list[Path] = field(default_factory=list)  # saved PNGs (empty when saving was off or failed)


@dataclass
class TextResult:
    text: str  # the new text only (the continuation, or the chat answer)
    seed: int
    notices: list[str] = field(default_factory=list)
    chat: bool = False  # the prompt went through the model's chat template (instruct models)


@dataclass
class SpeechResult:
    sample_rate: int
    audio: object  # float32 numpy array, mono
    path: Path | None  # the saved WAV (a .json sidecar of the parameters lies beside it)
    notices: list[str] = field(default_factory=list)
    seed: int | None = None  # ChatTTS voice seed
    text_seed: int | None = None  # ChatTTS refine seed
    speaker: str | None = None  # ChatTTS speaker string: paste it back to keep the voice
    refined_text: str | None = None  # what ChatTTS's refine step made of the text (tokens written in)


@dataclass
class VideoResult:
    path: Path | None  # the saved MP4 (None when saving was off or failed); a .json sidecar lies beside it
    frames: list[Image.Image]
    fps: int
    seed: int
    notices: list[str] = field(default_factory=list)
    gif: Path | None = None  # the same clip as a looping GIF


@dataclass
class MusicResult:
    path: Path | None  # the saved WAV (None when saving was off or failed); a .json sidecar lies beside it
    sample_rate: int
    audio: object  # float32 numpy array, mono
    notes: list | None  # studio.music.notes.Note of a symbolic model (mini-melody); None for an audio model
    seed: int
    notices: list[str] = field(default_factory=list)
    abc: str | None = None  # the melody in ABC notation (symbolic models)
    midi: Path | None = None  # the melody as a MIDI file beside the WAV (symbolic models)
    meter: str | None = None  # the melody's meter (the asked one, or the one an "any meter" melody came out in)


@dataclass
class GridResult:
    image: Image.Image  # the labelled grid
    cells: list[list[Image.Image]]  # rows (Y) of cells (X)
    seed: int
    notices: list[str] = field(default_factory=list)
    path: Path | None = None


@dataclass
class LoraResult:
    name: str  # as the 文生图 tab lists it
    path: Path | None  # the saved pytorch_lora_weights.safetensors (None when stopped before any step)
    losses: list[float]
    steps: int  # steps done
    seconds: float
    stopped: bool = False
    notices: list[str] = field(default_factory=list)
