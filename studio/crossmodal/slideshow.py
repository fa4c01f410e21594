"""The storyboard as a video: each shot's picture held for as long as its narration lasts, the narrations joined
into one soundtrack, written as H.264 + AAC MP4 (plays in browsers) with an SRT subtitle file beside it.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from studio.core.outputs import mp4_meta, write_wav


PAD_SECONDS = 0.6  # silence after each narration, so shots do not run into each other
MIN_SHOT_SECONDS = 2.0
SAMPLE_RATE = 24000


@dataclass
class Segment:
    image: Image.Image
    audio: np.ndarray  # float32 mono at its own sample rate
    sample_rate: int
    text: str


def video_side(image: Image.Image) -> int:
    """Square frames of at least 256 px (mini-shapes draws 64 px), a multiple of 16 for H.264."""
    side = max(256, max(image.size))
    return (side + 15) // 16 * 16


def _resample(audio: np.ndarray, rate: int) -> np.ndarray:
    if rate == SAMPLE_RATE or len(audio) == 0:
        return audio.astype(np.float32)
    n = int(round(len(audio) * SAMPLE_RATE / rate))
    return np.interp(np.linspace(0, len(audio) - 1, n), np.arange(len(audio)), audio).astype(np.float32)


def timeline(segments: list[Segment]) -> list[tuple[float, float]]:
    """(start, end) seconds of each shot: its narration plus a pause, never shorter than MIN_SHOT_SECONDS."""
    out, start = [], 0.0
    for seg in segments:
        length = max(MIN_SHOT_SECONDS, len(seg.audio) / seg.sample_rate + PAD_SECONDS)
        out.append((start, start + length))
        start += length
    return out


def soundtrack(segments: list[Segment], times: list[tuple[float, float]]) -> np.ndarray:
    track = np.zeros(int(round(times[-1][1] * SAMPLE_RATE)), dtype=np.float32)
    for seg, (start, _end) in zip(segments, times):
        audio = _resample(np.asarray(seg.audio, dtype=np.float32).reshape(-1), seg.sample_rate)
        at = int(round(start * SAMPLE_RATE))
        track[at:at + len(audio)] = audio[:len(track) - at]
    return track


def write(path: Path, segments: list[Segment], fps: int = 8) -> list[tuple[float, float]]:
    """Write the MP4 at `path` (through a temporary file, then rename); returns the shots' times."""
    import imageio_ffmpeg
    times = timeline(segments)
    side = video_side(segments[0].image)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "narration.wav"
        with open(wav, "wb") as f:
            write_wav(f, soundtrack(segments, times), SAMPLE_RATE)
        partial = path.with_name(".tmp-" + path.name)
        try:
            writer = imageio_ffmpeg.write_frames(str(partial), (side, side), fps=fps, codec="libx264",
                                                 pix_fmt_out="yuv420p", macro_block_size=16, audio_path=str(wav),
                                                 audio_codec="aac", ffmpeg_log_level="error",
                                                 output_params=mp4_meta(path.name))
            writer.send(None)
            for seg, (start, end) in zip(segments, times):
                frame = np.ascontiguousarray(seg.image.convert("RGB").resize((side, side), Image.Resampling.LANCZOS))
                for _ in range(round(end * fps) - round(start * fps)):
                    writer.send(frame)
            writer.close()
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
    return times


def srt(texts: list[str], times: list[tuple[float, float]]) -> str:
    """SubRip subtitles: each narration over its shot."""
    def stamp(seconds: float) -> str:
        ms = int(round(seconds * 1000))
        return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"
    return "\n".join(f"{i}\n{stamp(a)} --> {stamp(b)}\n{text}\n"
                     for i, (text, (a, b)) in enumerate(zip(texts, times), 1))
