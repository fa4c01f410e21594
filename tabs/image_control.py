"""文生图's ControlNet units: per unit a drawing or a picture, its kind, weight and steps, and a preview of the
control image its net will see. The units' values are generate_image's and export_code's last inputs (UNIT_FIELDS
per unit, then guess mode), so gradio_client calls that name the earlier inputs by position keep working."""

import gradio as gr
from PIL import Image

from studio import api
from studio.api.web import control_fields
from studio.core.registry import cards
from studio.image.knobs import KNOBS

from .ui import GPU, UI, guarded, s, upload_limit


UNITS = 2  # on the page (studio.api takes up to 3)
UNIT_FIELDS = ("on", "kind", "image", "preprocess", "weight", "start", "end", "model", "low", "high")
KINDS = ("scribble", "canny", "depth")
CANVAS = 512  # the drawing canvas's side: drawn large, shrunk to the picture's size


def kind_choices(lang: str) -> list[tuple[str, str]]:
    return [(s(f"image.control.kind.{k}", lang), k) for k in KINDS]


def net_choices(lang: str) -> list[tuple[str, str]]:
    """自动 (the base model's net for the kind), then the registry's ControlNets and the local ControlNet folders."""
    return [(s("image.control.auto", lang), "")] + \
        [(f"{c.title[lang]} · {c.key}", c.key) for c in cards("controlnet")] + \
        [(f"{name} · {s('image.local', lang)}", name) for name in api.local_models("controlnet")]


def editor_image(value) -> Image.Image | None:
    """What a unit's editor holds: the drawing over its background (composite), else the background alone, on a
    white sheet. The editor starts with no background (an empty CANVAS x CANVAS canvas, white on the page): Gradio
    fetches and uploads an untouched background again each time it reads the editor's state (every update of a
    block around it: after a language switch, ~20 uploads a second per page for half a minute and more); an empty
    canvas costs nothing."""
    if not value:
        return None
    image = value.get("composite") or value.get("background") if isinstance(value, dict) else value
    if image is None or image.mode not in ("RGBA", "LA", "P"):
        return image
    drawn = image.convert("RGBA")
    sheet = Image.new("RGB", image.size, "white")  # where nothing was drawn: the paper, not black
    sheet.paste(drawn, mask=drawn.getchannel("A"))
    return sheet


def units(values: list) -> list[dict]:
    """The switched-on units of the page's flat values (UNIT_FIELDS per unit) as studio.api's control dicts."""
    out = []
    for i in range(0, len(values), len(UNIT_FIELDS)):
        unit = dict(zip(UNIT_FIELDS, values[i:i + len(UNIT_FIELDS)]))
        if not unit.pop("on"):
            continue
        unit["image"] = editor_image(unit["image"])
        unit["preprocessor"] = None if unit.pop("preprocess") else "none"
        unit["model"] = unit["model"] or None
        out.append(unit)
    return out


@guarded
def preview(kind, image, preprocess, low, high, net, model, width, height, lang="zh"):
    """预览: the control image the unit's net will see at the picture's size (Canny's edges, the drawing's lines,
    the depth map)."""
    unit = dict(kind=kind, image=editor_image(image), preprocessor=None if preprocess else "none", low=low,
                high=high, model=net or None)
    return api.preview_control(unit, model, width, height, lang=lang)


def send(fields):
    """发送到文生图: the units a PNG records switched on with their settings (its control image is not in the PNG:
    the canvas keeps what is there), the others switched off; guess mode as the first unit's Control Mode."""
    if not fields:
        return [gr.skip()] * (UNITS * len(UNIT_FIELDS) + 1)
    recorded = control_fields(fields)[:UNITS]
    out = []
    for i in range(UNITS):
        unit = recorded[i] if i < len(recorded) else None
        for field in UNIT_FIELDS:
            if field == "on":
                out.append(unit is not None)
            elif unit is None or field == "image":
                out.append(gr.skip())
            elif field == "preprocess":
                out.append(unit["preprocessor"] != "none")
            elif field == "model":
                out.append(unit["model"] or "")
            else:
                out.append(unit.get(field) if unit.get(field) is not None else gr.skip())
    out.append(recorded[0]["guess_mode"] if recorded else False)
    return out


def build(ui: UI, lang, model, width, height) -> list:
    """The ControlNet accordion; returns the components whose values follow the old inputs (see module doc)."""
    values = []
    with ui.on_lang(gr.Accordion(s("image.control", ui.lang), open=False),
                    lambda lg: {"label": s("image.control", lg)}):
        ui.md("image.control.help")
        guess_mode = ui.add(gr.Checkbox, "image.control.guess_mode", value=False)
        with gr.Tabs():
            for number in range(1, UNITS + 1):
                values += _unit(ui, number, lang, model, width, height)
    return [*values, guess_mode]


def _unit(ui: UI, number: int, lang, model, width, height) -> list:
    key = "image.control.unit"
    with ui.on_lang(gr.Tab(s(key, ui.lang, number=number)), lambda lg: {"label": s(key, lg, number=number)}):
        with gr.Row(equal_height=True):
            on = ui.add(gr.Checkbox, "image.control.on", value=False, scale=1)
            kind = ui.add(gr.Radio, "image.control.kind", choices=kind_choices(ui.lang), value="scribble", scale=3)
            ui.on_lang(kind, lambda lg: {"choices": kind_choices(lg)})
        image = ui.add(gr.ImageEditor, "image.control.image", fill=upload_limit(), type="pil", height=360,
                       canvas_size=(CANVAS, CANVAS), sources=["upload", "clipboard"], transforms=(),
                       brush=gr.Brush(colors=["#000000"], color_mode="fixed", default_size=8), eraser=gr.Eraser())
        with gr.Row(equal_height=True):
            preprocess = ui.add(gr.Checkbox, "image.control.preprocess", value=True, scale=1)
            net = ui.add(gr.Dropdown, "image.control.model", choices=net_choices(ui.lang), value="",
                         allow_custom_value=True, scale=3)
            ui.on_lang(net, lambda lg: {"choices": net_choices(lg)}, live=True)  # local folders: read at the switch
        weight = ui.knob("image.control.weight", KNOBS["control_weight"], value=1.0)
        with gr.Row():
            start = ui.knob("image.control.start", KNOBS["control_start"], value=0.0)
            end = ui.knob("image.control.end", KNOBS["control_end"], value=1.0)
        with gr.Row():
            low = ui.knob("image.control.low", KNOBS["canny_low"], value=100)
            high = ui.knob("image.control.high", KNOBS["canny_high"], value=200)
        show = ui.button("image.control.preview", size="sm")
        shown = ui.add(gr.Image, "image.control.preview_image", type="pil", format="png", interactive=False,
                       height=200, elem_classes="studio-pixels")
    # in the class's line like any model work: a depth map runs the depth estimator
    show.click(preview, [kind, image, preprocess, low, high, net, model, width, height, lang], shown,
               api_visibility="private", concurrency_id=GPU)
    return [on, kind, image, preprocess, weight, start, end, net, low, high]
