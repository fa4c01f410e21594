"""查看代码: the plain diffusers script that reproduces what the page just made.

The course teaches that every control maps to a code parameter; the script shows that mapping with no
studio code in between (same model files, scheduler class and options, seed and generator device, and
the same call the studio makes), so running it gives the page's pixels.
"""
from __future__ import annotations

from .models import ModelSpec
from .registry import ASSETS
from .samplers import SAMPLERS

IMAGE_TEMPLATE = '''\
# Reproduces the studio's image: {title}
# pip install torch diffusers transformers safetensors{extra_pip}
import torch
from diffusers import {pipeline}, {scheduler}
{load_source}
device = "cuda" if torch.cuda.is_available() else "cpu"
dtype = torch.float16 if device == "cuda" else torch.float32  # the studio runs fp32 on a CPU
pipe = {pipeline}.{load_call}.to(device)
# Sampler "{sampler}" = {scheduler} built from the model's own scheduler config
pipe.scheduler = {scheduler}.from_config(pipe.scheduler.config{scheduler_options})

seeds = {seeds}  # image i of the batch uses seed + i
generators = [torch.Generator("{generator_device}").manual_seed(s) for s in seeds]  # CPU noise: same picture on any machine
images = pipe(
    prompt=[{prompt!r}] * len(seeds),
    negative_prompt={negative},
    num_inference_steps={steps},
    guidance_scale={cfg_scale},
    width={width},
    height={height},
    generator=generators,
).images
for image, seed in zip(images, seeds):
    image.save(f"image-{{seed}}.png")
'''


def _source(spec: ModelSpec, hub: str) -> tuple[str, str]:
    """(lines that set model_path, extra pip packages): the folder on disk, else the hub id."""
    if spec.path is not None:
        return f"model_path = {str(spec.path)!r}\n", ""
    card = spec.card
    if hub == "modelscope" and card.modelscope_id:
        revision = card.revision.get("modelscope")
        rev = f", revision={revision!r}" if revision else ""
        return (f"from modelscope import snapshot_download\n"
                f"model_path = snapshot_download({card.modelscope_id!r}{rev})\n", " modelscope")
    return f"model_path = {card.hf_id!r}  # downloaded from the Hugging Face hub\n", ""


def _load_call(spec: ModelSpec, pipeline: str, sd15: bool) -> str:
    extra = ", safety_checker=None, requires_safety_checker=False" if sd15 else ""
    if spec.loader == "sd-single":  # a checkpoint from a model site, with the configs the studio ships
        config = ASSETS / "pipelines" / ("sd15" if sd15 else "sdxl")
        return f"from_single_file(model_path, config={str(config)!r}, torch_dtype=dtype{extra})"
    return f"from_pretrained(model_path, torch_dtype=dtype, use_safetensors=True{extra})"


def image_script(spec: ModelSpec, pipeline: str, hub: str, job) -> str:
    """The script for an ImageJob (studio.engines.image) on the model `spec`."""
    scheduler, options, _exact = SAMPLERS[job.sampler]
    load_source, extra_pip = _source(spec, hub)
    sd15 = pipeline == "StableDiffusionPipeline"
    return IMAGE_TEMPLATE.format(
        title=spec.title, extra_pip=extra_pip, pipeline=pipeline, scheduler=scheduler, load_source=load_source,
        load_call=_load_call(spec, pipeline, sd15),
        sampler=job.sampler, scheduler_options="".join(f", {k}={v!r}" for k, v in options.items()),
        seeds=job.seeds, generator_device=job.generator_device, prompt=job.prompt,
        negative=f"[{job.negative_prompt!r}] * len(seeds)" if job.negative_prompt else "None",
        steps=job.steps, cfg_scale=job.cfg_scale, width=job.width, height=job.height)
