"""ControlNet units of a picture job: what a caller hands in (a drawing, a picture) checked and turned into the
control images diffusers' ControlNet pipelines take.

A unit is given as a `ControlUnit` or a dict with its field names. Its settings become a `Control` (the same for
every row of a device call, so they join the merge key); its control image is the row's own
(`ImageJob.control_images`). Depth maps need a model, so they are made on the device, in the job's turn
(`Pending`, filled by studio.image.api before the call).
"""
from __future__ import annotations

from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, fields

from PIL import Image

from studio.core import validate
from studio.core.calls import task_spec
from studio.core.errors import StudioError
from studio.core.i18n import Words, t
from studio.core.manager import manager
from studio.core.specs import ModelSpec, check_weights_safe, file_hash
from studio.core.specs import resolve as resolve_model
from studio.image import preprocess
from studio.image import uploads as images
from studio.image.knobs import KNOBS


KINDS = ("canny", "scribble", "depth")
KIND_WORDS = {"canny": Words(("边缘", "Canny")), "scribble": Words(("线稿", "scribble")),
              "depth": Words(("深度", "depth"))}  # a kind as messages name it: the page's words
# A1111's ControlNet module names: what each kind does to the image by default ("none": it is the control image)
PREPROCESSORS = {"canny": "canny", "scribble": "invert (from white bg & black line)", "depth": "depth_anything_v2"}
# The depth preprocessor's estimator; a depth unit may name another depth model (registry key or folder) instead.
DEPTH_ESTIMATORS = {"depth_anything_v2": "depth-anything-v2-small"}
NONE = "none"
MAX_UNITS = 3  # A1111's default number of units


@dataclass
class ControlUnit:
    """One ControlNet unit as a caller gives it (`generate_image(controls=[...])`; a dict with these keys works too).

    image: a picture (canny, depth) or a drawing (scribble): PIL image, array or file path; with
    preprocessor="none", the control image itself (white lines on black). weight: how strongly it steers (0-2);
    start / end: the share of the steps it acts in (0-1). model: a ControlNet's name or folder (None: the base
    model's ControlNet for this kind). low / high: Canny's thresholds."""
    kind: str
    image: object = None
    weight: float = 1.0
    start: float = 0.0
    end: float = 1.0
    model: str | None = None
    preprocessor: str | None = None  # None: the kind's own; "none": the image is already the control image;
    # depth: another depth estimator by name (a registry key or model folder; default Depth Anything V2 small)
    low: int = preprocess.CANNY_LOW
    high: int = preprocess.CANNY_HIGH


@dataclass(frozen=True)
class Control:
    """A unit's checked settings (everything but its image): what every row of one call must share."""
    kind: str
    model: str  # the ControlNet's registry key or folder, as resolved
    title: str  # its name as infotexts write it
    weight: float
    start: float
    end: float
    preprocessor: str
    low: int
    high: int


@dataclass
class Pending:
    """A depth map still to be made (on the device, in the job's turn) from this source at the job's size."""
    source: Image.Image
    model: str  # the depth estimator (a registry key or folder)


def units(controls) -> list[ControlUnit]:
    """The caller's units as ControlUnits: a list of ControlUnit or dicts; None / [] = no control."""
    if controls is None:
        return []
    if isinstance(controls, (ControlUnit, dict)):
        controls = [controls]
    if not isinstance(controls, (list, tuple)):
        raise StudioError("bad_controls", got=type(controls).__name__)
    if len(controls) > MAX_UNITS:
        raise StudioError("too_many_controls", count=len(controls), most=MAX_UNITS)
    return [_unit(item) for item in controls]


def sent(call: dict) -> dict:
    """Before a call goes to a worker: each unit's image read here (a path names a file of this machine, not the
    worker's), within this server's upload limit."""
    if call.get("controls"):
        call["controls"] = [ControlUnit(**{**vars(u), "image": images.open_image(u.image) if u.image is not None
                                           else None}) for u in units(call["controls"])]
    return call


def _unit(item) -> ControlUnit:
    if isinstance(item, ControlUnit):
        return item
    if not isinstance(item, dict):
        raise StudioError("bad_controls", got=type(item).__name__)
    known = [f.name for f in fields(ControlUnit)]
    for key in item:
        if key not in known:
            raise StudioError("bad_choice", name="controls", value=str(key)[:40], choices=", ".join(known))
    if "kind" not in item:
        raise StudioError("control_needs_kind", choices=", ".join(KINDS))
    return ControlUnit(**item)


def resolve(controls, model: str, width: int, height: int, lang: str,
            notices: list[str]) -> tuple[tuple[Control, ...], list]:
    """(the units' checked settings, their control images at width x height) for a job on `model`. Every input is
    checked before anything runs: kind, numbers, the ControlNet (safetensors, made for this base model) and the
    image (present, within the upload limit, not blank)."""
    checked, maps = [], []
    for number, unit in enumerate(units(controls), 1):
        control = _settings(unit, model)
        checked.append(control)
        maps.append(_control_image(unit, control, number, width, height, lang, notices))
    return tuple(checked), maps


def _settings(unit: ControlUnit, model: str) -> Control:
    if unit.kind not in KINDS:
        raise StudioError("bad_choice", name="kind", value=str(unit.kind)[:40], choices=", ".join(KINDS))
    preprocessor = PREPROCESSORS[unit.kind] if unit.preprocessor in (None, "", True) else unit.preprocessor
    if unit.kind == "depth" and preprocessor not in (PREPROCESSORS["depth"], NONE, False):
        task_spec(preprocessor, "depth")  # another depth estimator, by name: a message when it is none
    elif preprocessor not in (PREPROCESSORS[unit.kind], NONE, False):
        raise StudioError("bad_choice", name="preprocessor", value=str(preprocessor)[:40],
                          choices=f"{PREPROCESSORS[unit.kind]}, {NONE}")
    weight = KNOBS["control_weight"].check(unit.weight)
    start, end = KNOBS["control_start"].check(unit.start), KNOBS["control_end"].check(unit.end)
    if start >= end:
        raise StudioError("control_start_end", start=start, end=end)
    low, high = KNOBS["canny_low"].check(unit.low), KNOBS["canny_high"].check(unit.high)
    net = _net(unit, model)
    return Control(unit.kind, net.key if net.card else str(net.path), _title(net), weight, start, end,
                   preprocessor or NONE, low, high)


def _net(unit: ControlUnit, model: str) -> ModelSpec:
    """The unit's ControlNet, checked against the base model from their configs (no weights loaded)."""
    from studio.image import controlnets
    base = task_spec(model, "image")
    name = unit.model or controlnets.default_for(base, unit.kind)
    if not name:
        raise StudioError("no_controlnet", kind=KIND_WORDS[unit.kind], model=base.title)
    net = task_spec(name, "controlnet")
    if net.path is not None:
        check_weights_safe(net.path, net.title)
    controlnets.check_pair(net, base)  # from the configs on disk, else the families the cards name
    return net


def _title(net: ModelSpec) -> str:
    """As A1111 names a ControlNet: its file's name (the hub repository's, e.g. control_v11p_sd15_canny)."""
    if net.card is not None:
        return (net.card.hf_id or net.card.key).split("/")[-1]
    return net.path.name


def _control_image(unit: ControlUnit, control: Control, number: int, width: int, height: int, lang: str,
                   notices: list[str]):
    if unit.image is None:
        raise StudioError("control_needs_image", number=number, kind=KIND_WORDS[unit.kind])
    source = images.open_image(unit.image)
    if source.size != (width, height):
        notices.append(t("notice_control_resized", lang, number=number, width=source.width, height=source.height,
                         to_width=width, to_height=height))
    if control.preprocessor == NONE:
        made = preprocess.fit(preprocess.flatten(source, (0, 0, 0)), width, height)[0]
    elif unit.kind == "canny":
        made = preprocess.canny(preprocess.fit(preprocess.flatten(source), width, height)[0], control.low,
                                control.high)
    elif unit.kind == "scribble":
        made = preprocess.scribble(preprocess.flatten(source), (width, height))
    else:
        estimator = DEPTH_ESTIMATORS.get(control.preprocessor, control.preprocessor)
        return Pending(preprocess.fit(preprocess.flatten(source), width, height)[0], estimator)
    if unit.kind != "depth" and preprocess.is_blank(made):
        raise StudioError("control_blank", number=number, kind=KIND_WORDS[unit.kind])
    return made


def preview_control(unit, model: str = "mini-shapes", width: int | None = None, height: int | None = None,
                    lang: str | None = None) -> Image.Image:
    """The control image a unit (a ControlUnit or dict) gives for a picture of `model` at width x height (unset:
    the model's size): what its ControlNet will see, as the page's 预览 shows it (a depth map runs the estimator)."""
    from studio.core.calls import caller_lang
    from studio.core.knobs import model_defaults
    d, lang = model_defaults(model), caller_lang(lang)
    width, height = validate.size(width or d["width"], height or d["height"], d["max_side"], lang, [])  # as a job's
    (control,), (image,) = resolve([unit], model, width, height, lang, [])
    if isinstance(image, Pending):
        job = _Maps([image], width, height)
        make_maps([job])
        image = job.control_images[0]
    return image


@dataclass
class _Maps:
    control_images: list
    width: int
    height: int


def from_infotext(fields: dict) -> list[dict]:
    """The units an infotext's "ControlNet 0", "ControlNet 1" ... fields record (A1111's extension), as ControlUnit
    fields without an image (a PNG does not hold the control image): what 发送到文生图 sets. A net the studio does
    not know by that name is left to the page (None: automatic)."""
    out = []
    for i in range(MAX_UNITS):
        text = fields.get(f"ControlNet {i}")
        if not isinstance(text, str):
            break
        values = dict(item.split(": ", 1) for item in text.split(", ") if ": " in item)
        module = values.get("Module", NONE)
        unit = {"kind": _kind_of(module), "preprocessor": None if module != NONE else NONE,
                "model": _known_net(values.get("Model", "").split(" [")[0]),
                "guess_mode": values.get("Control Mode") == "ControlNet is more important"}
        for key, name, cast in (("weight", "Weight", float), ("start", "Guidance Start", float),
                                ("end", "Guidance End", float), ("low", "Threshold A", int),
                                ("high", "Threshold B", int)):
            try:
                value = cast(float(values[name]))
            except (KeyError, ValueError):
                continue
            if key not in ("low", "high") or value > 0:  # -1: a threshold the module has none of
                unit[key] = value
        out.append(unit)
    return out


def _kind_of(module: str) -> str | None:
    if module.startswith("canny"):
        return "canny"
    if module.startswith(("invert", "scribble")):
        return "scribble"
    return "depth" if module.startswith("depth") else None


def _known_net(name: str) -> str | None:
    """A ControlNet's name in an infotext (A1111 writes its file's) as a registry key, or a local folder's name."""
    from studio.core.models import local_models
    from studio.core.registry import cards
    for card in cards("controlnet"):
        if name in (card.key, (card.hf_id or "").split("/")[-1]):
            return card.key
    return name if name in local_models("controlnet") else None


# -- on the device, in the job's turn ------------------------------------------------------------------------
@contextmanager
def leased(controls: tuple[Control, ...], progress=None):
    """`with leased(job.controls) as nets:` the units' ControlNets loaded (through the model manager, so they count
    against the memory budget and are evicted like any model) and kept from eviction inside the block."""
    with ExitStack() as stack:
        yield [stack.enter_context(manager().lease(c.model, progress)) for c in controls]


def make_maps(jobs, progress=None) -> None:
    """Depth maps still pending in these jobs' control images, made now with the depth estimator (a job's batches
    share its list: each map is made once per job)."""
    from studio.image import depth
    for job in jobs:
        for i, image in enumerate(job.control_images):
            if isinstance(image, Pending):
                job.control_images[i] = manager().run(
                    image.model, lambda estimator: depth.depth_map(estimator, image.source, job.width, job.height),
                    progress=progress)


def fits_loaded(nets: list, controls: tuple[Control, ...], pipe, model: str) -> None:
    """Before the call: each loaded net fits the loaded UNet (checked here when a model was not on disk yet when
    the job was checked)."""
    from studio.image import controlnets
    for net, c in zip(nets, controls):
        controlnets.check_fits(dict(net.config), dict(pipe.unet.config), c.title, task_spec(model, "image").title)


def infotext_fields(controls: tuple[Control, ...], width: int, height: int, guess_mode: bool) -> dict[str, str]:
    """"ControlNet 0": "Module: canny, Model: control_v11p_sd15_canny [d14c016b], Weight: 1.0, ..." as A1111's
    ControlNet extension writes each unit (its infotext_fields, in their order)."""
    mode = "ControlNet is more important" if guess_mode else "Balanced"
    out = {}
    for i, c in enumerate(controls):
        thresholds = (c.low, c.high) if c.kind == "canny" and c.preprocessor != NONE else (-1, -1)
        digest = _hash(c.model)
        model = f"{c.title} [{digest[:8]}]" if digest else c.title
        values = {"Module": c.preprocessor, "Model": model, "Weight": float(c.weight), "Resize Mode": "Just Resize",
                  "Processor Res": min(width, height), "Threshold A": float(thresholds[0]),
                  "Threshold B": float(thresholds[1]), "Guidance Start": float(c.start),
                  "Guidance End": float(c.end), "Pixel Perfect": True, "Control Mode": mode}
        out[f"ControlNet {i}"] = ", ".join(f"{k}: {v}" for k, v in values.items())
    return out


def _hash(model: str) -> str | None:
    """The net's weights file's sha256 (A1111 shows its first 8 digits after the name), when it is on disk."""
    path = resolve_model(model).path
    found = sorted(path.glob("diffusion_pytorch_model*.safetensors")) if path is not None and path.is_dir() else []
    return file_hash(found[0]) if found else None
