"""参数网格 (X/Y plot): one generate_image call per cell, at one seed, as a labelled grid."""
from __future__ import annotations

import threading

from .. import grid, validate
from ..errors import StudioError
from ..i18n import t
from ..outputs import save_png
from ..results import GridResult
from .common import Progress, _lang
from .image import generate_image


def xy_plot(prompt: str = "", negative_prompt: str = "", model: str = "mini-shapes", sampler: str | None = None,
            steps: int | None = None, cfg_scale: float | None = None, seed: int = -1, width: int | None = None,
            height: int | None = None, x_type: str = "cfg_scale", x_values: str = "3, 7, 12", y_type: str = "none",
            y_values: str = "", *, save: bool = True, lang: str | None = None, progress: Progress | None = None,
            stop: threading.Event | None = None) -> GridResult:
    """Every combination of the X and Y values (sampler, steps, cfg_scale, seed, size, prompt_sr or lora — "none,
    ink:0.5, ink:1" for before / after — comma separated), all at one seed (seed -1: one random seed for the whole
    grid) unless an axis is the seed."""
    lang = _lang(lang)
    xs, ys = grid.values(x_type, x_values), grid.values(y_type, y_values)
    if len(xs) * len(ys) > grid.MAX_CELLS:
        raise StudioError("grid_too_big", cells=len(xs) * len(ys), cap=grid.MAX_CELLS)
    notices: list[str] = []
    fixed = validate.seed(seed, lang, notices)
    base = dict(prompt=prompt, negative_prompt=negative_prompt, model=model, sampler=sampler, steps=steps,
                cfg_scale=cfg_scale, seed=fixed, width=width, height=height, save=False, lang=lang)
    search = {"x": xs[0] if x_type == "prompt_sr" else None, "y": ys[0] if y_type == "prompt_sr" else None}
    rows, total, done = [], len(xs) * len(ys), 0
    for y in ys:
        row = []
        for x in xs:
            if stop is not None and stop.is_set():
                raise StudioError("grid_stopped")
            kw = dict(base)
            for axis, value, name in ((y_type, y, "y"), (x_type, x, "x")):
                change = grid.cell_kwargs(axis, value, kw["prompt"])
                if "prompt_sr" in change:
                    kw["prompt"] = grid.apply_sr(kw["prompt"], search[name], change.pop("prompt_sr"))
                kw.update(change)
            cell = generate_image(**kw, stop=stop)  # a stop ends the cell at its next step
            if stop is not None and stop.is_set():
                raise StudioError("grid_stopped")  # no grid drawn, nothing saved
            row.append(cell.images[0])
            notices.extend(n for n in cell.notices if n not in notices)
            done += 1
            if progress is not None:
                progress(done / total, f"{done}/{total}")
        rows.append(row)
    image = grid.draw(rows, [_label(x_type, x, lang) for x in xs], [_label(y_type, y, lang) for y in ys])
    text = f"{prompt}\nX/Y plot: X = {x_type}: {x_values}; Y = {y_type}: {y_values}; Seed: {fixed}"
    path = None
    if save:
        try:
            path = save_png(image, text, fixed)
        except OSError as exc:
            notices.append(t("notice_not_saved", lang, reason=exc.strerror or str(exc)))
    return GridResult(image, rows, fixed, notices, path)


def _label(axis: str, value, lang: str) -> str:
    return grid.label(axis, value, lang)
