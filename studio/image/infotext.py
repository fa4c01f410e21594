"""The `parameters` text the popular web UIs write into images, and its reader.

    <prompt>
    Negative prompt: <negative prompt>
    Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1057871485, Size: 512x512, Model hash: 7460a6fa2b, Model: x

A1111 and Forge keep it in a PNG's `parameters` text chunk, and in the EXIF UserComment of a JPEG or WebP.
"""
from __future__ import annotations

import json
import math
import re

from PIL import Image


# Keys in the order the web UIs write them, then the field name the studio uses for each.
FIELDS = [
    ("Steps", "steps"), ("Sampler", "sampler"), ("Schedule type", "schedule_type"), ("CFG scale", "cfg_scale"),
    ("Seed", "seed"), ("Size", "size"), ("Model hash", "model_hash"), ("Model", "model"), ("VAE", "vae"),
    ("Denoising strength", "denoising_strength"), ("Clip skip", "clip_skip"),
    ("Old prompt editing timelines", "use_old_scheduling"),
]
_NUMBERS = {"steps": int, "seed": int, "cfg_scale": float, "denoising_strength": float, "clip_skip": int,
            "Hires upscale": float, "Hires steps": int}
_BOOLS = {"use_old_scheduling"}
_PAIR = re.compile(r'\s*([\w][\w \-/+.]*?):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')
# The fields 发送到文生图 always sets (tabs/image.py); the sampler, model and hires fix when the studio has them.
_SENT = {"prompt", "negative_prompt", "steps", "cfg_scale", "seed", "width", "height", "use_old_scheduling"}


def _quote(value) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if any(c in text for c in ',:"\n') else text


def _written(value) -> bool:
    # A1111 writes a switch only when it is on ("Old prompt editing timelines: True"); 0 is a value
    return value is not None and value != "" and value is not False


def format_infotext(prompt: str, negative_prompt: str, params: dict) -> str:
    """params: studio field names (steps, sampler, ...) plus any extra 'Key Name' entries."""
    named = dict(FIELDS)
    pairs = []
    for key, field in FIELDS:
        if _written(params.get(field)):
            pairs.append(f"{key}: {_quote(params[field])}")
    for key, value in params.items():
        if key not in named.values() and _written(value):
            pairs.append(f"{key}: {_quote(value)}")
    lines = [prompt or ""]
    if negative_prompt:
        lines.append(f"Negative prompt: {negative_prompt}")
    lines.append(", ".join(pairs))
    return "\n".join(lines)


def _number(kind, text: str):
    """An integer field read exactly (seeds reach 2^64: through a float 127589946317439009 would come back as
    ...008), "20.0" too; a float field as a float; text that is no number stays text."""
    try:
        if kind is int:
            try:
                return int(text)
            except ValueError:
                return int(float(text))
        return float(text)
    except ValueError:
        return text


def _unquote(raw: str) -> str:
    if raw.startswith('"'):
        try:
            return json.loads(raw)
        except ValueError:  # as A1111's unquote: a quoted value that is no JSON string stays as written
            return raw
    return raw.strip()


def _size(text) -> tuple[int, int] | None:
    w, _, h = str(text).partition("x")
    return (int(w), int(h)) if w.isdigit() and h.isdigit() else None


def _auto_first_pass(width: int, height: int) -> tuple[int, int]:
    """A1111's old hires fix with "First pass size: 0x0": about 512x512 pixels in the final aspect, in steps of 64
    (processing.old_hires_fix_first_pass_dimensions)."""
    scale = math.sqrt(512 * 512 / (width * height))
    return math.ceil(scale * width / 64) * 64, math.ceil(scale * height / 64) * 64


def _hires_scale(base: tuple[int, int], final: tuple[int, int]) -> float | None:
    """The scale that takes the first pass to A1111's final size ("Hires resize", one side 0: kept in aspect), when
    the studio's hires fix (engine.hires_size) makes exactly that size; None otherwise."""
    from studio.image.engine import hires_size
    (w, h), (fw, fh) = base, final
    if not (w and h and (fw or fh)):
        return None
    fw, fh = fw or fh * w // h, fh or fw * h // w
    scale = fw / w if fw * h == fh * w else None
    if scale is None or hires_size(w, h, scale) != (fw, fh):
        return None
    return scale


def _read_hires_sizes(result: dict) -> None:
    """A1111 before 2023 wrote the final size as Size and the first pass as "First pass size"; since then Size is the
    first pass, and "Hires resize" may give the final size instead of "Hires upscale". Read both as A1111 does
    (infotext_utils.restore_old_hires_fix_params) into the first pass size and the studio's scale; a final size no
    scale makes stays as "Hires resize", which unapplied_fields names."""
    first = _size(result.get("First pass size", ""))
    final = result.get("width"), result.get("height")
    if first is not None and all(final) and not {"Hires upscale", "Hires resize"} & result.keys():
        result["width"], result["height"] = first if all(first) else _auto_first_pass(*final)
        result["Hires resize"] = f"{final[0]}x{final[1]}"
        del result["First pass size"]
    resize = _size(result.get("Hires resize", ""))
    if resize is not None and "width" in result and "Hires upscale" not in result:
        scale = _hires_scale((result["width"], result["height"]), resize)
        if scale is not None:
            result["Hires upscale"] = scale
            del result["Hires resize"]


def parse_infotext(text: str) -> dict:
    """Back to studio fields: prompt, negative_prompt, steps, sampler, cfg_scale, seed, width, height, ...; every
    other `Key: value` under its own key (Version, Lora hashes, ADetailer model, Module 1, ...), never dropped.
    sampler is the base name and schedule_type (Automatic when none is written) the schedule type, also from an old
    joined name ("DPM++ 2M Karras"); a type the studio lacks ("Align Your Steps") stays as written, for the page to
    list as not applied."""
    from studio.image.samplers import join_schedule
    lines = text.strip().split("\n")
    last = lines[-1] if len(_PAIR.findall(lines[-1])) >= 3 else ""  # the web UIs' own test
    body = lines[:-1] if last else lines
    prompt, negative, in_negative = [], [], False
    for line in body:
        if line.startswith("Negative prompt:"):
            in_negative = True
            line = line[len("Negative prompt:"):].strip()
        (negative if in_negative else prompt).append(line)
    result: dict = {"prompt": "\n".join(prompt).strip(), "negative_prompt": "\n".join(negative).strip()}
    by_key = dict(FIELDS)
    for key, raw in _PAIR.findall(last):
        value = _unquote(raw)
        field = by_key.get(key.strip(), key.strip())
        if field in _NUMBERS:
            value = _number(_NUMBERS[field], value)
        elif field in _BOOLS:
            value = {"True": True, "False": False}.get(value, value)
        result[field] = value
    size = _size(result.get("size", ""))
    if size is not None:
        del result["size"]
        result["width"], result["height"] = size
    _read_hires_sizes(result)
    if "sampler" in result:  # base sampler + schedule type; old joined names ("DPM++ 2M Karras") split too
        result["sampler"], result["schedule_type"] = join_schedule(result["sampler"], result.get("schedule_type"))
    return result


def hires_fix(fields: dict) -> dict | None:
    """The hires fix 发送到文生图 sets from parsed fields: scale, steps, upscaler, strength (None: one the studio
    lacks or out of the slider's range, or not recorded: the page keeps its own). None: no scale it can set."""
    from studio.image.engine import HIRES_UPSCALERS
    from studio.image.knobs import KNOBS
    scale, steps = fields.get("Hires upscale"), fields.get("Hires steps", 0)
    strength = fields.get("denoising_strength")

    def within(knob: str, value) -> bool:
        low, high = KNOBS[knob].bounds
        return isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high

    if not within("hires_scale", scale):
        return None
    return {"scale": scale, "steps": steps if within("hires_steps", steps) and float(steps).is_integer() else None,
            "upscaler": fields.get("Hires upscaler") if fields.get("Hires upscaler") in HIRES_UPSCALERS else None,
            "strength": strength if within("hires_strength", strength) else None}


def unapplied_fields(fields: dict, models=(), control_units: int = 0) -> list[str]:
    """The fields 发送到文生图 leaves alone, as `Key: value` in the order read: Version, Clip skip, VAE, ADetailer
    ..., a sampler or schedule type the studio lacks, a model not among `models`, hires settings it cannot set, the
    ControlNet units past the page's `control_units`."""
    from studio.image import control, samplers
    applied = set(_SENT) | {f"ControlNet {i}" for i in range(min(control_units, len(control.from_infotext(fields))))}
    sampler, schedule = fields.get("sampler"), fields.get("schedule_type")
    if sampler in samplers.names():
        applied.add("sampler")
    if schedule in (None, "", samplers.AUTOMATIC) or ("sampler" in applied
                                                      and schedule in samplers.schedule_types(sampler)):
        applied.add("schedule_type")
    if fields.get("model") in models:
        applied |= {"model", "model_hash"}
    hires = hires_fix(fields)
    if hires is not None:
        applied.add("Hires upscale")
        applied |= {key for key, name in (("Hires steps", "steps"), ("Hires upscaler", "upscaler"),
                                          ("denoising_strength", "strength")) if hires[name] is not None}
    keys = {field: key for key, field in FIELDS}
    shown = lambda value: f'"{value}"' if "," in str(value) else value  # noqa: E731 - one item of a comma list
    return [f"{keys.get(field, field)}: {shown(value)}" for field, value in fields.items() if field not in applied]


def read_png_text(image: Image.Image) -> str | None:
    """The `parameters` chunk of a PNG opened with PIL (None when there is none)."""
    info = getattr(image, "info", {}) or {}
    text = info.get("parameters")
    if text is None and hasattr(image, "text"):
        text = image.text.get("parameters")
    return text


def read_image_text(image: Image.Image) -> str | None:
    """The parameters an image carries, where A1111 reads them (modules/images.py read_info_from_image): a PNG's
    `parameters` chunk, else the EXIF UserComment A1111 writes into JPEG and WebP, else a JPEG or GIF comment."""
    text = read_png_text(image)
    if not text:
        text = _user_comment(image.getexif().get_ifd(0x8769).get(0x9286)) or text  # Exif IFD, UserComment
    comment = (getattr(image, "info", {}) or {}).get("comment")
    if not text and isinstance(comment, bytes):
        comment = comment.decode("utf-8", errors="replace")
    return text or comment


def _user_comment(raw) -> str | None:
    """EXIF UserComment: an 8-byte character code, then the text. A1111 writes b"UNICODE\\0" and UTF-16 big-endian
    (piexif); other tools write little-endian, a byte-order mark, b"ASCII\\0\\0\\0", or no code at all."""
    if isinstance(raw, str):
        return raw
    if not isinstance(raw, bytes) or len(raw) < 8:
        return None
    code, body = raw[:8], raw[8:]
    if code == b"UNICODE\0":
        if body[:2] in (b"\xfe\xff", b"\xff\xfe"):
            codec = "utf-16"
        else:  # no byte-order mark: Latin text has its zero bytes first in big-endian, second in little-endian
            codec = "utf-16-le" if body[1::2].count(0) > body[0::2].count(0) else "utf-16-be"
        text = body.decode(codec, errors="replace")
    elif code in (b"ASCII\0\0\0", b"\0" * 8):
        text = body.decode("utf-8", errors="replace")
    elif code == b"JIS\0\0\0\0\0":
        text = body.decode("shift_jis", errors="replace")
    else:  # as A1111: no known code, the whole field as UTF-8
        text = raw.decode("utf-8", errors="replace")
    return text.rstrip("\0")
