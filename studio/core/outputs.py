"""Writing outputs: generated names, atomic writes (temporary file, then rename)."""
from __future__ import annotations

import datetime as _dt
import io
import json
import os
import struct
import tempfile
import uuid
import wave
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from studio.core import aigc_label, files
from studio.core.config import settings


def output_folder(kind: str) -> Path:
    folder = Path(settings().output_dir).expanduser().resolve() / kind / _dt.date.today().isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def new_name(suffix: str, seed: int | None = None) -> str:
    stamp = _dt.datetime.now().strftime("%H%M%S")
    tag = f"-{seed}" if seed is not None else ""
    return f"{stamp}{tag}-{uuid.uuid4().hex[:6]}{suffix}"


def write_atomic(path: Path, write) -> Path:
    """write(file_object) into a temporary file beside `path`, then rename: no half-written outputs."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    files.record(path)  # its maker (and the operator) may open it; nobody else
    return path


def save_png(image: Image.Image, infotext: str, seed: int | None = None) -> Path:
    path = output_folder("images") / new_name(".png", seed)
    meta = png_meta(infotext, path.name)
    return write_atomic(path, lambda f: image.save(f, format="PNG", pnginfo=meta))


def png_meta(infotext: str | None, content_id: str) -> PngImagePlugin.PngInfo:
    """PNG text chunks: the web UIs' "parameters" and the implicit AIGC label."""
    meta = PngImagePlugin.PngInfo()
    if infotext:
        meta.add_text("parameters", infotext)
    meta.add_itxt(aigc_label.KEY, aigc_label.text(content_id))
    return meta


def json_bytes(params: dict, content_id: str) -> bytes:
    """A sidecar: the parameters plus the implicit AIGC label of the file beside it."""
    return json.dumps({**params, aigc_label.KEY: aigc_label.record(content_id)}, ensure_ascii=False,
                      indent=2).encode("utf-8")


def with_parameters(image: Image.Image, infotext: str) -> Image.Image:
    """The same pixels with the infotext attached, as PIL keeps it after reading a PNG."""
    image.info["parameters"] = infotext
    return image


def save_video(frames, fps: int, params: dict, seed: int | None = None) -> Path:
    """An H.264 / yuv420p MP4 (plays in every browser) and a JSON sidecar of the parameters beside it."""
    import imageio.v2 as imageio
    path = output_folder("videos") / new_name(".mp4", seed)
    tmp = path.with_name(".tmp-" + path.name)
    try:
        # macro_block_size=1: sides that are multiples of 2 (not 16) are kept, not resized.
        with imageio.get_writer(tmp, fps=fps, codec="libx264", pixelformat="yuv420p", macro_block_size=1,
                                ffmpeg_log_level="error", output_params=mp4_meta(path.name)) as writer:
            for frame in frames:
                writer.append_data(frame)
        os.replace(tmp, path)
        files.record(path)
    finally:
        tmp.unlink(missing_ok=True)
    write_atomic(path.with_suffix(".json"), lambda f: f.write(json_bytes(params, path.name)))
    return path


def mp4_meta(content_id: str) -> list[str]:
    """ffmpeg options putting the implicit AIGC label into the MP4's comment tag."""
    return ["-metadata", f"comment={aigc_label.KEY}={aigc_label.text(content_id)}", "-movflags", "+faststart"]


def save_gif(frames, fps: int, path: Path) -> Path:
    """The clip as a looping GIF (for slides and chats that take no video)."""
    import imageio.v2 as imageio
    comment = f"{aigc_label.KEY}={aigc_label.text(path.name)}"
    return write_atomic(path, lambda f: imageio.mimsave(f, list(frames), format="GIF", duration=1000 / fps, loop=0,
                                                        comment=comment.encode("utf-8")))


def write_wav(f, audio: np.ndarray, rate: int, comment: str | None = None) -> None:
    """16-bit mono WAV; a comment goes into a RIFF LIST/INFO ICMT chunk (where players show comments)."""
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    data = buffer.getvalue()
    if comment:
        text = comment.encode("utf-8") + b"\0"
        text += b"\0" * (len(text) % 2)  # chunks are word-aligned
        info = b"INFO" + b"ICMT" + struct.pack("<I", len(text)) + text
        data += b"LIST" + struct.pack("<I", len(info)) + info
        data = data[:4] + struct.pack("<I", len(data) - 8) + data[8:]
    f.write(data)
