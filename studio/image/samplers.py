"""Sampler names learners know (from the popular web UIs) -> diffusers schedulers.

Each name builds `Scheduler.from_config(pipe.scheduler.config, **options)`, so a pipeline's own
training settings (betas, prediction type, timestep spacing) are kept and only the solver changes.
"""
from __future__ import annotations

import diffusers


# name -> (diffusers class name, options, exact?)  exact=False: the closest equivalent, said so in the UI.
SAMPLERS: dict[str, tuple[str, dict, bool]] = {
    "Euler": ("EulerDiscreteScheduler", {}, True),
    "Euler a": ("EulerAncestralDiscreteScheduler", {}, True),
    "Heun": ("HeunDiscreteScheduler", {}, True),
    "LMS": ("LMSDiscreteScheduler", {}, True),
    "LMS Karras": ("LMSDiscreteScheduler", {"use_karras_sigmas": True}, True),
    "DDIM": ("DDIMScheduler", {}, True),
    "PNDM": ("PNDMScheduler", {}, True),
    "DPM2": ("KDPM2DiscreteScheduler", {}, True),
    "DPM2 Karras": ("KDPM2DiscreteScheduler", {"use_karras_sigmas": True}, True),
    "DPM2 a": ("KDPM2AncestralDiscreteScheduler", {}, True),
    "DPM2 a Karras": ("KDPM2AncestralDiscreteScheduler", {"use_karras_sigmas": True}, True),
    "DPM++ 2M": ("DPMSolverMultistepScheduler", {}, True),
    "DPM++ 2M Karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}, True),
    "DPM++ 2M SDE": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++"}, True),
    "DPM++ 2M SDE Karras": ("DPMSolverMultistepScheduler",
                            {"algorithm_type": "sde-dpmsolver++", "use_karras_sigmas": True}, True),
    "DPM++ SDE": ("DPMSolverSinglestepScheduler", {}, False),
    "DPM++ SDE Karras": ("DPMSolverSinglestepScheduler", {"use_karras_sigmas": True}, False),
    "DPM++ 2S a": ("DPMSolverSinglestepScheduler", {}, False),
    "DPM++ 2S a Karras": ("DPMSolverSinglestepScheduler", {"use_karras_sigmas": True}, False),
    "UniPC": ("UniPCMultistepScheduler", {}, True),
    "DEIS": ("DEISMultistepScheduler", {}, True),
}
# Newer web UIs write the schedule separately ("Sampler: DPM++ 2M, Schedule type: Karras").
SCHEDULE_SUFFIX = {"Karras": " Karras", "Automatic": "", "": ""}

DEFAULT = "DPM++ 2M Karras"


# The samplers each scheduler family supports, by the loader of the model's spec. Every image model today is a
# Stable Diffusion UNet with a discrete-time scheduler, which takes all of them; a family with its own scheduler
# (flow matching, ...) lists its own here.
FAMILIES: dict[str, tuple[str, ...]] = {"sd": tuple(SAMPLERS), "sd-single": tuple(SAMPLERS)}


def names(loader: str | None = None) -> list[str]:
    """The samplers a model with this loader supports (None: every sampler)."""
    return list(SAMPLERS if loader is None else FAMILIES.get(loader, SAMPLERS))


def join_schedule(sampler: str, schedule: str | None) -> str:
    """'DPM++ 2M' + 'Karras' -> 'DPM++ 2M Karras' (the single value the dropdown uses)."""
    suffix = SCHEDULE_SUFFIX.get((schedule or "").strip(), None)
    if suffix is None or sampler.endswith(" Karras"):
        return sampler
    joined = sampler + suffix
    return joined if joined in SAMPLERS else sampler


def is_exact(name: str) -> bool:
    return SAMPLERS[name][2]


def class_name(name: str) -> str:
    return SAMPLERS[name][0]


# The options the names set: dropped from the base config first, so that a config taken from a "DPM++ 2M SDE Karras"
# scheduler does not make "DPM++ 2M" Karras and SDE too.
_OPTION_KEYS = {key for _cls, options, _exact in SAMPLERS.values() for key in options} | {"sigma_max"}

# Karras et al. (2022) space their steps from sigma_max = 80 down. A zero-terminal-SNR schedule (mini-shapes; models
# fine-tuned as in Lin et al. 2023) ends at sigma 4096, a finite stand-in for infinity: Karras spacing over that
# range puts 13 of 20 steps above sigma 13, where the latent is still noise, and leaves 4 big steps where the picture
# forms (mini-shapes, DPM++ 2M Karras at CFG 12: 82% of attributes right; capped: 96%). SD 1.5 (14.6) is unchanged.
KARRAS_SIGMA_MAX = 80.0


def make_scheduler(name: str, base_config):
    cls_name, options, _exact = SAMPLERS[name]
    config = {key: value for key, value in dict(base_config).items() if key not in _OPTION_KEYS}
    scheduler = getattr(diffusers, cls_name).from_config(config, **options)
    if options.get("use_karras_sigmas") and terminal_sigma(scheduler) > KARRAS_SIGMA_MAX:
        # read by the schedulers' _convert_to_karras (diffusers' LMSDiscreteScheduler does not read it)
        scheduler.register_to_config(sigma_max=KARRAS_SIGMA_MAX)
    return scheduler


def terminal_sigma(scheduler) -> float:
    """The noise level of the schedule's last training timestep."""
    alpha_bar = float(scheduler.alphas_cumprod[-1])
    return ((1 - alpha_bar) / alpha_bar) ** 0.5
