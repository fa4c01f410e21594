"""Text to video."""
from __future__ import annotations

from PIL import Image

from .. import validate
from ..engines import video as _video
from ..i18n import t
from ..manager import manager
from ..outputs import save_video
from ..results import VideoResult
from .common import PROMPT_CAP, Progress, _lang, _spec, model_defaults


# -- text to video ------------------------------------------------------------------------------
def generate_video(prompt: str = "", negative_prompt: str | None = None, model: str = "mini-motion",
                   steps: int | None = None, cfg_scale: float | None = None, seed: int = -1,
                   num_frames: int | None = None, fps: int | None = None, width: int | None = None,
                   height: int | None = None, *, flow_shift: float | None = None, save: bool = True,
                   lang: str | None = None, progress: Progress | None = None) -> VideoResult:
    """Text to video. Frames are rounded to the model's 4k+1 rule and sizes to multiples of 16, with notices;
    unset values take the model's defaults (negative_prompt None: the course's "low quality, watermark, glitch")."""
    lang = _lang(lang)
    spec = _spec(model, "video")
    d = model_defaults(model)
    notices: list[str] = []
    prompt = validate.text("prompt", prompt, PROMPT_CAP)
    negative_prompt = validate.text("negative_prompt", d["negative_prompt"] if negative_prompt is None
                                    else negative_prompt, PROMPT_CAP)
    steps = validate.number("steps", d["steps"] if steps is None else steps, 1, 150, int)
    cfg_scale = validate.number("cfg_scale", d["cfg_scale"] if cfg_scale is None else cfg_scale, 1, 30)
    fps = validate.number("fps", d["fps"] if fps is None else fps, 1, 60, int)
    if flow_shift is not None:
        flow_shift = validate.number("flow_shift", flow_shift, 0.5, 20)
    width, height = validate.size(d["width"] if width is None else width, d["height"] if height is None else height,
                                  d["max_side"], lang, notices, multiple=16)
    frames = validate.frames(d["num_frames"] if num_frames is None else num_frames, 4, d["max_frames"], lang, notices)
    chosen_seed = validate.seed(seed, lang, notices)
    if not prompt.strip():
        notices.append(t("notice_empty_prompt_video", lang))
    job = _video.VideoJob(prompt, negative_prompt, steps, cfg_scale, chosen_seed, frames, width, height, flow_shift)
    on_step = (lambda done, total: progress(done / total, f"{done}/{total}")) if progress else None
    video = manager().run(model, lambda pipe: _video.txt2video(pipe, job, on_step), progress=progress)
    params = dict(prompt=prompt, negative_prompt=negative_prompt, model=spec.title, steps=steps, cfg_scale=cfg_scale,
                  seed=chosen_seed, num_frames=frames, fps=fps, width=width, height=height, flow_shift=flow_shift)
    path = None
    if save:
        try:
            path = save_video(video, fps, params, chosen_seed)
        except OSError as exc:
            notices.append(t("notice_not_saved", lang, reason=exc.strerror or str(exc)))
    return VideoResult(path, [Image.fromarray(f) for f in video], fps, chosen_seed, notices)

