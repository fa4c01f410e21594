"""Sampler names learners know (A1111 1.10's) and schedule types -> diffusers schedulers.

Each sampler builds `Scheduler.from_config(pipe.scheduler.config, **options)`, so a pipeline's own
training settings (betas, prediction type, timestep spacing) are kept and only the solver changes. The schedule
type (A1111 1.9+'s own dropdown) adds the options diffusers' scheduler overview maps it to.
"""
from __future__ import annotations

import functools
import inspect

import diffusers


# base name -> (diffusers class name, options, exact?)  exact=False: the closest equivalent, said so in the UI.
SAMPLERS: dict[str, tuple[str, dict, bool]] = {
    "Euler": ("EulerDiscreteScheduler", {}, True),
    "Euler a": ("EulerAncestralDiscreteScheduler", {}, True),
    "Heun": ("HeunDiscreteScheduler", {}, True),
    "LMS": ("LMSDiscreteScheduler", {}, True),
    "DDIM": ("DDIMScheduler", {}, True),
    "PNDM": ("PNDMScheduler", {}, True),
    "DPM2": ("KDPM2DiscreteScheduler", {}, True),
    "DPM2 a": ("KDPM2AncestralDiscreteScheduler", {}, True),
    "DPM++ 2M": ("DPMSolverMultistepScheduler", {}, True),
    "DPM++ 2M SDE": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++"}, True),
    "DPM++ 2M SDE Heun": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++", "solver_type": "heun"},
                          True),
    # diffusers' third-order SDE step is not k-diffusion's sample_dpmpp_3m_sde (its D2 term differs)
    "DPM++ 3M SDE": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++", "solver_order": 3}, False),
    "DPM++ SDE": ("DPMSolverSinglestepScheduler", {}, False),
    "DPM++ 2S a": ("DPMSolverSinglestepScheduler", {}, False),
    "UniPC": ("UniPCMultistepScheduler", {}, True),
    "DEIS": ("DEISMultistepScheduler", {}, True),
    # LCMScheduler's own timesteps (from the distillation's 50), not the model's sigmas as A1111's LCM
    "LCM": ("LCMScheduler", {}, False),
}
LCM = "LCM"  # for LCM-distilled models only (studio.image.api.image_samplers)

# schedule type -> (the __init__ argument a scheduler class must take to offer it, options), as diffusers' scheduler
# overview maps A1111's types. "Automatic": the sampler's own default. Options a class does not take are left out
# (DPMSolverSinglestepScheduler has no timestep_spacing: its timesteps are always linspace).
SCHEDULES: dict[str, tuple[str | None, dict]] = {
    "Automatic": (None, {}),
    "Karras": ("use_karras_sigmas", {"use_karras_sigmas": True}),
    "Exponential": ("use_exponential_sigmas", {"use_exponential_sigmas": True, "timestep_spacing": "linspace"}),
    "Beta": ("use_beta_sigmas", {"use_beta_sigmas": True, "timestep_spacing": "linspace"}),  # needs scipy
    "SGM Uniform": ("timestep_spacing", {"timestep_spacing": "trailing"}),
    "Simple": ("timestep_spacing", {"timestep_spacing": "trailing"}),
}
AUTOMATIC = "Automatic"
# LCMScheduler takes timestep_spacing but never reads it (its steps come from the distillation's own 50).
_IGNORES_SPACING = {"LCMScheduler"}
# Spacings from sigma_max down, which the Karras cap below applies to.
_SIGMA_SPACINGS = ("Karras", "Exponential", "Beta")
# Old joined names ("DPM++ 2M Karras", A1111 before 1.9; "DPM++ 3M SDE Exponential", 1.6-1.8) end in one of these.
_OLD_SUFFIXES = ("Karras", "Exponential")

DEFAULT, DEFAULT_SCHEDULE = "DPM++ 2M", "Karras"


# The samplers each scheduler family supports, by the loader of the model's spec. Every image model today is a
# Stable Diffusion UNet with a discrete-time scheduler, which takes all of them; a family with its own scheduler
# (flow matching, ...) lists its own here.
FAMILIES: dict[str, tuple[str, ...]] = {"sd": tuple(SAMPLERS), "sd-single": tuple(SAMPLERS)}


def names(loader: str | None = None, lcm: bool = True) -> list[str]:
    """The samplers a model with this loader supports (None: every sampler); lcm=False: without LCM."""
    return [n for n in (SAMPLERS if loader is None else FAMILIES.get(loader, SAMPLERS)) if lcm or n != LCM]


def split(name: str, schedule_type: str | None = AUTOMATIC) -> tuple[str, str]:
    """(base sampler, schedule type). An old joined name brings its schedule ('DPM++ 2M Karras' -> 'DPM++ 2M',
    'Karras'), unless a schedule type other than Automatic is given (as A1111 reads old names)."""
    schedule_type = schedule_type or AUTOMATIC
    for suffix in _OLD_SUFFIXES:
        base = name.removesuffix(" " + suffix)
        if base != name and base in SAMPLERS:
            return base, suffix if schedule_type == AUTOMATIC else schedule_type
    return name, schedule_type


@functools.lru_cache(maxsize=None)
def _init_args(cls_name: str) -> frozenset[str]:
    """The __init__ arguments of a diffusers scheduler class that a schedule type can set."""
    takes = frozenset(inspect.signature(getattr(diffusers, cls_name).__init__).parameters)
    return takes - {"timestep_spacing"} if cls_name in _IGNORES_SPACING else takes


def schedule_types(sampler: str) -> list[str]:
    """The schedule types the sampler's diffusers class takes (read from its __init__), Automatic first."""
    takes = _init_args(SAMPLERS[sampler][0])
    return [kind for kind, (needs, _options) in SCHEDULES.items() if needs is None or needs in takes]


def join_schedule(sampler: str, schedule: str | None) -> tuple[str, str]:
    """An infotext's Sampler and Schedule type as (base sampler, schedule type): old joined names split too; a
    type the studio lacks (A1111's "Align Your Steps", "Uniform", ...) is returned as written, never mapped."""
    return split(sampler, schedule)


def is_exact(name: str) -> bool:
    return SAMPLERS[name][2]


def class_name(name: str) -> str:
    return SAMPLERS[name][0]


def options(name: str, schedule_type: str = AUTOMATIC) -> dict:
    """The from_config options of a sampler and schedule type (those the class takes)."""
    takes = _init_args(SAMPLERS[name][0])
    extra = {k: v for k, v in SCHEDULES[schedule_type][1].items() if k in takes}
    return {**SAMPLERS[name][1], **extra}


# The options samplers and schedule types set: dropped from the base config first, so that a config taken from a
# "DPM++ 2M SDE" + Karras scheduler does not make "DPM++ 2M" Karras and SDE too. timestep_spacing is the model's own
# (Automatic keeps it), so it is overridden, never dropped.
_OPTION_KEYS = ({key for _cls, opts, _exact in SAMPLERS.values() for key in opts}
                | {key for _needs, opts in SCHEDULES.values() for key in opts} | {"sigma_max"}) - {"timestep_spacing"}

# Karras et al. (2022) space their steps from sigma_max = 80 down. A zero-terminal-SNR schedule (mini-shapes; models
# fine-tuned as in Lin et al. 2023) ends at sigma 4096, a finite stand-in for infinity: Karras spacing over that
# range puts 13 of 20 steps above sigma 13, where the latent is still noise, and leaves 4 big steps where the picture
# forms (mini-shapes, DPM++ 2M Karras at CFG 12: 82% of attributes right; capped: 96%). SD 1.5 (14.6) is unchanged.
# Exponential and Beta spacing start from sigma_max too, and waste their steps the same way: capped alike.
KARRAS_SIGMA_MAX = 80.0


def make_scheduler(name: str, base_config, schedule_type: str = AUTOMATIC):
    """The scheduler of a sampler (an old joined name too: "DPM++ 2M Karras") and schedule type on the model's
    own config."""
    name, schedule_type = split(name, schedule_type)
    cls_name = SAMPLERS[name][0]
    config = {key: value for key, value in dict(base_config).items() if key not in _OPTION_KEYS}
    scheduler = getattr(diffusers, cls_name).from_config(config, **options(name, schedule_type))
    if caps_sigma(schedule_type) and terminal_sigma(scheduler) > KARRAS_SIGMA_MAX:
        # read by the schedulers' _convert_to_karras / _exponential / _beta (diffusers' LMS Karras does not read it)
        scheduler.register_to_config(sigma_max=KARRAS_SIGMA_MAX)
    return scheduler


def caps_sigma(schedule_type: str) -> bool:
    """Whether the schedule type spaces sigmas from sigma_max (capped on a zero-terminal-SNR schedule)."""
    return schedule_type in _SIGMA_SPACINGS


def terminal_sigma(scheduler) -> float:
    """The noise level of the schedule's last training timestep."""
    alpha_bar = float(scheduler.alphas_cumprod[-1])
    return ((1 - alpha_bar) / alpha_bar) ** 0.5
