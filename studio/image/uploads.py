"""Images a user hands in (uploads, editor layers, arrays, paths) turned into what the pipelines take."""
from __future__ import annotations

import re

import numpy as np
from PIL import Image, UnidentifiedImageError

from studio.core.config import settings
from studio.core.errors import StudioError


def check_pixels(image: Image.Image) -> None:
    """Uploads above the server's pixel limit (STUDIO_MAX_UPLOAD_PIXELS) are refused, naming the limit."""
    cap = settings().max_upload_pixels
    if image.width * image.height > cap:
        raise StudioError("upload_too_big", width=image.width, height=image.height, cap=cap)


def open_image(value) -> Image.Image:
    """A PIL image from a PIL image, a numpy array or a file path; a clear error for anything else."""
    if isinstance(value, Image.Image):
        check_pixels(value)
        return value
    if isinstance(value, np.ndarray):
        try:
            image = Image.fromarray(value.astype(np.uint8) if value.dtype != np.uint8 else value)
        except (TypeError, ValueError) as exc:
            raise StudioError("not_an_image") from exc
        check_pixels(image)
        return image
    if isinstance(value, (str, bytes)) or hasattr(value, "__fspath__"):
        try:
            image = Image.open(value)
            check_pixels(image)  # before load(): a decompression bomb is refused from its header
            image.load()
            return image
        except Image.DecompressionBombError as exc:  # PIL's own guard (twice the limit) fired in open()
            pixels = re.search(r"\((\d+) pixels\)", str(exc))
            raise StudioError("upload_bomb", pixels=pixels.group(1) if pixels else "?",
                              cap=settings().max_upload_pixels) from None
        except (OSError, ValueError, UnidentifiedImageError) as exc:
            raise StudioError("not_an_image") from exc
    raise StudioError("not_an_image")


def to_rgb(value) -> Image.Image:
    """RGB, with any transparency composited on white (a PNG with alpha would otherwise turn black)."""
    image = open_image(value)
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def to_mask(value, size: tuple[int, int]) -> Image.Image:
    """A black / white mask at `size` (white = repaint). A drawn layer's alpha counts as paint."""
    image = open_image(value)
    if image.mode in ("RGBA", "LA"):
        gray = image.getchannel("A")
    else:
        gray = image.convert("L")
    mask = gray.resize(size, Image.NEAREST).point(lambda v: 255 if v >= 128 else 0)
    if mask.getextrema()[1] == 0:
        raise StudioError("empty_mask")
    return mask
