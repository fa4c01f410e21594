"""Writing outputs: generated names, atomic writes (temporary file, then rename)."""
from __future__ import annotations

import datetime as _dt
import os
import tempfile
import uuid
from pathlib import Path

from PIL import Image, PngImagePlugin

from .config import settings


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
    return path


def save_png(image: Image.Image, infotext: str, seed: int | None = None) -> Path:
    meta = PngImagePlugin.PngInfo()
    meta.add_text("parameters", infotext)
    path = output_folder("images") / new_name(".png", seed)
    return write_atomic(path, lambda f: image.save(f, format="PNG", pnginfo=meta))


def with_parameters(image: Image.Image, infotext: str) -> Image.Image:
    """The same pixels with the infotext attached, as PIL keeps it after reading a PNG."""
    image.info["parameters"] = infotext
    return image


def save_video(frames, fps: int, params: dict, seed: int | None = None) -> Path:
    """An H.264 / yuv420p MP4 (plays in every browser) and a JSON sidecar of the parameters beside it."""
    import json

    import imageio.v2 as imageio
    path = output_folder("videos") / new_name(".mp4", seed)
    tmp = path.with_name(".tmp-" + path.name)
    try:
        # macro_block_size=1: sides that are multiples of 2 (not 16) are kept, not resized.
        with imageio.get_writer(tmp, fps=fps, codec="libx264", pixelformat="yuv420p", macro_block_size=1,
                                ffmpeg_log_level="error") as writer:
            for frame in frames:
                writer.append_data(frame)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    sidecar = path.with_suffix(".json")
    write_atomic(sidecar, lambda f: f.write(json.dumps(params, ensure_ascii=False, indent=2).encode("utf-8")))
    return path


def save_gif(frames, fps: int, path: Path) -> Path:
    """The clip as a looping GIF (for slides and chats that take no video)."""
    import imageio.v2 as imageio
    return write_atomic(path, lambda f: imageio.mimsave(f, list(frames), format="GIF", duration=1000 / fps, loop=0))
