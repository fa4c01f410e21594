"""Text to video."""
from __future__ import annotations

import threading
import time

import numpy as np
from PIL import Image

from studio.core import aigc_label, validate
from studio.core.backend import routed
from studio.core.calls import PROMPT_CAP, Progress, caller_lang, task_spec
from studio.core.config import settings
from studio.core.errors import StudioError
from studio.core.i18n import t
from studio.core.knobs import model_defaults
from studio.core.manager import manager
from studio.core.outputs import save_gif, save_video
from studio.core.results import VideoResult
from studio.video import engine as _video
from studio.video import plan as video_plan
from studio.video.knobs import KNOBS


# -- text to video ------------------------------------------------------------------------------
@routed("video", finish=lambda result, call: _saved_here(result, call))
def generate_video(prompt: str = "", negative_prompt: str | None = None, model: str = "mini-motion",
                   steps: int | None = None, cfg_scale: float | None = None, seed: int = -1,
                   num_frames: int | None = None, fps: int | None = None, width: int | None = None,
                   height: int | None = None, *, flow_shift: float | None = None, save: bool = True,
                   stop: threading.Event | None = None, lang: str | None = None,
                   progress: Progress | None = None) -> VideoResult:
    """Text to video. Frames are rounded to the model's 4k+1 rule and sizes to multiples of 16, with notices;
    unset values take the model's defaults (negative_prompt None: the course's "low quality, watermark, glitch").
    Setting `stop` ends the run after the current step (StudioError "interrupted"). Saved as an H.264 MP4 with a
    JSON sidecar, and a GIF beside it."""
    lang = caller_lang(lang)
    spec = task_spec(model, "video")
    job, fps, notices = _video_job(prompt, negative_prompt, model, steps, cfg_scale, seed, num_frames, fps, width,
                                   height, flow_shift, lang)
    on_step = _eta(progress, lang) if progress else None
    try:
        video = manager().run(model, lambda pipe: _video.txt2video(pipe, job, on_step, stop), progress=progress)
    except _video.Interrupted:
        raise StudioError("video_interrupted") from None
    if aigc_label.explicit_on():  # the visible "AI生成" mark on every frame
        video = np.stack([np.asarray(aigc_label.stamp(Image.fromarray(f)).convert("RGB")) for f in video])
    result = VideoResult(None, [Image.fromarray(f) for f in video], fps, job.seed, notices)
    return _saved(result, video, job, spec.title, lang) if save else result


def _saved(result: VideoResult, video: np.ndarray, job: _video.VideoJob, title: str, lang: str) -> VideoResult:
    """The clip written as an MP4 with its parameters' sidecar, and a GIF beside it."""
    params = dict(prompt=job.prompt, negative_prompt=job.negative_prompt, model=title, steps=job.steps,
                  cfg_scale=job.cfg_scale, seed=job.seed, num_frames=job.num_frames, fps=result.fps, width=job.width,
                  height=job.height, flow_shift=job.flow_shift)
    try:
        result.path = save_video(video, result.fps, params, job.seed)
        result.gif = save_gif(video, result.fps, result.path.with_suffix(".gif"))
    except OSError as exc:
        result.notices.append(t("notice_not_saved", lang, reason=exc.strerror or str(exc)))
    return result


def _saved_here(result: VideoResult, call: dict) -> VideoResult:
    """A worker's clip (studio.core.backend) saved by this process, as generate_video saves its own: the same
    checked values (with the seed the worker chose) make the same sidecar."""
    if not call.get("save", True):
        return result
    lang = caller_lang(call.get("lang"))
    job, _, _ = _video_job(call["prompt"], call["negative_prompt"], call["model"], call["steps"], call["cfg_scale"],
                           result.seed, call["num_frames"], call["fps"], call["width"], call["height"],
                           call["flow_shift"], lang)
    video = np.stack([np.asarray(frame.convert("RGB")) for frame in result.frames])
    return _saved(result, video, job, task_spec(call["model"], "video").title, lang)


def _video_job(prompt, negative_prompt, model, steps, cfg_scale, seed, num_frames, fps, width, height, flow_shift,
               lang) -> tuple[_video.VideoJob, int, list[str]]:
    """Checked inputs; sizes or lengths beyond the model's caps are refused with what they would need."""
    d = model_defaults(model)
    notices: list[str] = []
    prompt = validate.text("prompt", prompt, PROMPT_CAP)
    negative_prompt = validate.text("negative_prompt", d["negative_prompt"] if negative_prompt is None
                                    else negative_prompt, PROMPT_CAP)
    steps = KNOBS["steps"].check(d["steps"] if steps is None else steps)
    cfg_scale = KNOBS["cfg_scale"].check(d["cfg_scale"] if cfg_scale is None else cfg_scale)
    fps = KNOBS["fps"].check(d["fps"] if fps is None else fps)
    if flow_shift is not None and "flow_shift" in d and d["flow_shift"] is None:  # a UNet video model: nothing to shift
        notices.append(t("notice_no_flow_shift", lang, model=model))
        flow_shift = None
    elif flow_shift is not None:
        flow_shift = KNOBS["flow_shift"].check(flow_shift)
    width = d["width"] if width is None else width
    height = d["height"] if height is None else height
    num_frames = d["num_frames"] if num_frames is None else num_frames
    try:
        width, height = validate.size(width, height, d["max_side"], lang, notices, multiple=d["size_multiple"])
        frames = validate.frames(num_frames, d["frame_step"], d["max_frames"], lang, notices)
    except StudioError as exc:
        if exc.key not in ("size_too_big", "too_many_frames"):
            raise
        w, h, f = (validate.number(n, v, 1, 100_000, int) for n, v in
                   (("width", width), ("height", height), ("num_frames", num_frames)))
        raise StudioError("video_too_big", width=w, height=h, frames=f, side=d["max_side"],
                          cap=min(d["max_frames"], settings().max_frames),
                          mb=video_plan.memory_estimate_mb(w, h, f),
                          tokens=video_plan.wan_patches(f, h, w).tokens) from None
    chosen_seed = validate.seed(seed, lang, notices)
    if not prompt.strip():
        notices.append(t("notice_empty_prompt_video", lang))
    job = _video.VideoJob(prompt, negative_prompt, steps, cfg_scale, chosen_seed, frames, width, height, flow_shift)
    return job, fps, notices


def _eta(progress: Progress, lang: str):
    """Step progress with the time left, from the mean time of the steps so far."""
    start = time.perf_counter()

    def on_step(done: int, total: int) -> None:
        per = (time.perf_counter() - start) / done
        progress(done / total, t("progress_eta", lang, done=done, total=total, per=per, left=per * (total - done)))
    return on_step


def export_video_code(prompt: str = "", negative_prompt: str | None = None, model: str = "mini-motion",
                      steps: int | None = None, cfg_scale: float | None = None, seed: int = -1,
                      num_frames: int | None = None, fps: int | None = None, width: int | None = None,
                      height: int | None = None, *, flow_shift: float | None = None,
                      lang: str | None = None) -> str:
    """查看代码: a diffusers script that makes the same video as generate_video with these values (pass the seed
    the page showed back)."""
    from studio.core.config import settings
    from studio.video import code as videocode
    lang = caller_lang(lang)
    spec = task_spec(model, "video")
    job, fps, _ = _video_job(prompt, negative_prompt, model, steps, cfg_scale, seed, num_frames, fps, width, height,
                             flow_shift, lang)
    shift = job.flow_shift if job.flow_shift is not None else _scheduler_shift(spec) if spec.loader == "wan" else None
    return videocode.video_script(spec, job, fps, shift if spec.loader == "wan" else None, settings().hub)


def _scheduler_shift(spec) -> float:
    """The model's own flow shift, from its scheduler config on disk (3.0 when it does not say)."""
    import json
    config = spec.path / "scheduler" / "scheduler_config.json" if spec.path is not None else None
    if config is not None and config.is_file():
        return float(json.loads(config.read_text()).get("flow_shift", 3.0))
    return float(spec.defaults().get("flow_shift", 3.0))


def recommend_video_settings(model: str = "wan2.1-t2v-1.3b", free_mb: float | None = None,
                             lang: str | None = None) -> dict:
    """显存推荐: the course's rule on free GPU memory -> {"width", "height", "num_frames", "reason"}; on a CPU
    (free_mb None and no GPU) the model's own defaults, with the reason. Pass free_mb to ask "what if"."""
    from studio.core import device as dev
    from studio.core.manager import manager as _manager
    lang = caller_lang(lang)
    spec = task_spec(model, "video")
    d = model_defaults(model)
    if free_mb is None and not _manager().device.startswith("cuda"):
        return {"width": d["width"], "height": d["height"], "num_frames": d["num_frames"],
                "reason": t("recommend_cpu", lang, width=d["width"], height=d["height"], frames=d["num_frames"])}
    if free_mb is None:
        free_mb = dev.free_memory(_manager().device) / 2**20
    free_mb = validate.number("free_mb", free_mb, 0, 10**7)
    r = video_plan.recommend(free_mb)
    if r.width > d["max_side"] or spec.loader != "wan":  # mini-motion, ModelScope 1.7B: the rule is Wan's
        return {"width": d["width"], "height": d["height"], "num_frames": d["num_frames"],
                "reason": t("recommend_native", lang, width=d["width"], height=d["height"], frames=d["num_frames"])}
    width, height, frames = r.width, r.height, min(r.num_frames, d["max_frames"])
    return {"width": width, "height": height, "num_frames": frames,
            "reason": t("recommend_gpu", lang, free=r.free_mb, threshold=r.threshold_mb, width=width, height=height,
                        asked=r.asked_frames, frames=frames)}
