"""查看代码: the plain diffusers script that reproduces what the page just made.

The course teaches that every control maps to a code parameter; the script shows that mapping with no
studio code in between (same model files, scheduler class and options, seed and generator device, and
the same call the studio makes), so running it gives the page's pixels.
"""
from __future__ import annotations

import json

from studio.core.codegen import model_source, shown_path
from studio.core.specs import ModelSpec
from studio.image.samplers import KARRAS_SIGMA_MAX, SAMPLERS, make_scheduler, terminal_sigma


IMAGE_TEMPLATE = '''\
# Reproduces the studio's image: {title}
# pip install torch diffusers transformers safetensors{extra_pip}
import torch
from diffusers import {pipeline}, {scheduler}
{imports}{load_source}
device = "cuda" if torch.cuda.is_available() else "cpu"
dtype = torch.float16 if device == "cuda" else torch.float32  # the studio runs fp32 on a CPU
pipe = {pipeline}.{load_call}.to(device)
# Sampler "{sampler}" = {scheduler} built from the model's own scheduler config
pipe.scheduler = {scheduler}.from_config(pipe.scheduler.config{scheduler_options})
{karras_cap}{loras}
seeds = {seeds}  # image i of the batch uses seed + i
# CPU noise: same picture on any machine
generators = [torch.Generator("{generator_device}").manual_seed(s) for s in seeds]
{text}{source}images = {first_call}(
{text_args}    num_inference_steps={steps},
    guidance_scale={cfg_scale},
{size_args}    generator=generators,{first_extra}
).images
{hires}for image, seed in zip(images, seeds):
    image.save(f"image-{{seed}}.png")
'''

PLAIN_TEXT = '''\
    prompt=[{prompt!r}] * len(seeds),
    negative_prompt={negative},
'''

# Weighted or long prompts: the studio parses (word:1.5) into (text, weight) spans and lets compel build the
# embeddings, 75 tokens per chunk, both sides padded to the same number of chunks.
COMPEL_TEXT = '''\
from compel import Compel, ReturnedEmbeddingsType
from compel.prompt_parser import FlattenedPrompt

prompt_spans = {spans!r}  # (text, weight) from {prompt!r}
negative_spans = {negative_spans!r}
{encoders}

def embed(compel, spans):
    (conditioning, _tokens), _options = compel.build_conditioning_tensor_for_prompt_object(FlattenedPrompt(spans))
    return conditioning


def pad(conditioning, empty, length):  # extra chunks of the empty prompt, so both sides have as many chunks
    while conditioning.shape[1] < length:
        conditioning = torch.cat([conditioning, empty.reshape(1, *empty.shape[-2:])], dim=1)
    return conditioning


with torch.no_grad():
    pairs = [(embed(c, prompt_spans), embed(c, negative_spans)) for c in compels]
    length = max(t.shape[1] for pair in pairs for t in pair)
    cond = torch.cat([pad(p[0], c.conditioning_provider.empty_z, length) for c, p in zip(compels, pairs)], dim=-1)
    neg = torch.cat([pad(p[1], c.conditioning_provider.empty_z, length) for c, p in zip(compels, pairs)], dim=-1)
{pooled}'''
SD_ENCODERS = '''\
compels = [Compel(tokenizer=pipe.tokenizer, text_encoder=pipe.text_encoder, truncate_long_prompts=False,
                  device=pipe.device)]
'''
SDXL_ENCODERS = '''\
kind = ReturnedEmbeddingsType.PENULTIMATE_HIDDEN_STATES_NON_NORMALIZED  # as SDXL's own encode_prompt
compels = [Compel(tokenizer=pipe.tokenizer, text_encoder=pipe.text_encoder, returned_embeddings_type=kind,
                  truncate_long_prompts=False, device=pipe.device),
           Compel(tokenizer=pipe.tokenizer_2, text_encoder=pipe.text_encoder_2, returned_embeddings_type=kind,
                  truncate_long_prompts=False, requires_pooled=True, device=pipe.device)]
'''
SDXL_POOLED = '''\
    pooled = compels[1].conditioning_provider.get_pooled_embeddings([{plain!r}])
    neg_pooled = compels[1].conditioning_provider.get_pooled_embeddings([{plain_negative!r}])
    if {empty_negative} and pipe.config.force_zeros_for_empty_prompt:  # as SDXL does for an empty negative prompt
        neg, neg_pooled = torch.zeros_like(neg), torch.zeros_like(neg_pooled)
'''
COMPEL_ARGS = '''\
    prompt_embeds=cond.repeat(len(seeds), 1, 1),
    negative_prompt_embeds=neg.repeat(len(seeds), 1, 1),
'''
SDXL_POOLED_ARGS = '''\
    pooled_prompt_embeds=pooled.repeat(len(seeds), 1),
    negative_pooled_prompt_embeds=neg_pooled.repeat(len(seeds), 1),
'''

HIRES = '''\
# Hires fix: upscale x{scale} ({upscaler}), then image to image at denoising strength {strength}
second = AutoPipelineForImage2Image.from_pipe(pipe)
second.scheduler = {scheduler}.from_config(pipe.scheduler.config{scheduler_options})
{karras_cap}{upscale}generators = [torch.Generator("{generator_device}").manual_seed(s) for s in seeds]
images = second(
{text_args}    image=upscaled,
    strength={strength},
    num_inference_steps={hires_steps},
    guidance_scale={cfg_scale},
    generator=generators,
).images
'''
LATENT_UPSCALE = '''\
upscaled = torch.nn.functional.interpolate(images, size=({h} // pipe.vae_scale_factor, {w} // pipe.vae_scale_factor),
                                           mode="nearest-exact")  # the first pass returned latents
'''
LANCZOS_UPSCALE = '''\
upscaled = [image.resize(({w}, {h}), Image.LANCZOS) for image in images]
'''


CONFIG_NOTE = ("# config= names the pipeline configs AIGC Studio ships: run this script in the studio's folder\n"
               "# (a checkout of AIGC Studio), or copy its assets/pipelines beside this script, keeping that path\n")


def _load_call(spec: ModelSpec, pipeline: str, sd15: bool) -> str:
    extra = ", safety_checker=None, requires_safety_checker=False" if sd15 else ""
    if spec.loader == "sd-single":  # a checkpoint from a model site, with the configs the studio ships
        config = f"assets/pipelines/{'sd15' if sd15 else 'sdxl'}"  # relative to a checkout (CONFIG_NOTE)
        return f"from_single_file(model_path, config={config!r}, torch_dtype=dtype{extra})"
    return f"from_pretrained(model_path, torch_dtype=dtype, use_safetensors=True{extra})"


def image_script(spec: ModelSpec, pipeline: str, hub: str, job, weighted: bool = False) -> str:
    """The script for an ImageJob (studio.image.engine) on the model `spec`. Image to image and inpainting read
    the source (and mask) from init.png / mask.png beside the script. `weighted`: the engine encodes the prompts
    with compel (weighting syntax, or longer than one chunk), so the script does too."""
    from studio.image.engine import hires_size, schedule_steps
    scheduler, options, _exact = SAMPLERS[job.sampler]
    load_source, extra_pip = model_source(spec, hub)
    if spec.loader == "sd-single":
        load_source += CONFIG_NOTE
    sd15 = pipeline == "StableDiffusionPipeline"
    sched_opts = "".join(f", {k}={v!r}" for k, v in options.items())
    text, text_args = _text(job, weighted, pipeline == "StableDiffusionXLPipeline")
    imports, first_call, first_extra, source, steps = "", "pipe", "", "", job.steps
    size_args = f"    width={job.width},\n    height={job.height},\n"
    if job.init_image is not None:
        kind = "AutoPipelineForInpainting" if job.mask is not None else "AutoPipelineForImage2Image"
        imports = f"from diffusers import {kind}\nfrom PIL import Image\n"
        source = (f"first = {kind}.from_pipe(pipe)\n"
                  f"source = Image.open(\"init.png\").convert(\"RGB\").resize(({job.width}, {job.height}))\n")
        first_extra = f"\n    image=[source] * len(seeds),\n    strength={job.strength},"
        if job.mask is not None:
            source += f"mask = Image.open(\"mask.png\").convert(\"L\").resize(({job.width}, {job.height}))\n"
            first_extra += "\n    mask_image=[mask] * len(seeds),"
        else:
            size_args = ""
        first_call, steps = "first", schedule_steps(job.steps, job.strength)
    hires = ""
    if job.hires is not None:
        imports += "from diffusers import AutoPipelineForImage2Image\nfrom PIL import Image\n"
        w, h = hires_size(job.width, job.height, job.hires.scale)
        latent = job.hires.upscaler == "Latent"
        if latent:
            first_extra += "\n    output_type=\"latent\","
        hires = HIRES.format(scale=job.hires.scale, upscaler=job.hires.upscaler, strength=job.hires.strength,
                             karras_cap=_karras_cap(spec, job.sampler, "second"), scheduler=scheduler,
                             scheduler_options=sched_opts, generator_device=job.generator_device,
                             upscale=(LATENT_UPSCALE if latent else LANCZOS_UPSCALE).format(w=w, h=h),
                             text_args=text_args, hires_steps=schedule_steps(job.hires.steps, job.hires.strength),
                             cfg_scale=job.cfg_scale)
    if job.mask is not None:
        hires += ("images = [Image.composite(image, source, mask.point(lambda v: 255 if v >= 128 else 0)) "
                  "for image in images]\n")
    return IMAGE_TEMPLATE.format(
        title=spec.title, extra_pip=extra_pip + (" compel" if weighted else ""), pipeline=pipeline,
        scheduler=scheduler, imports=imports, load_source=load_source, load_call=_load_call(spec, pipeline, sd15),
        sampler=job.sampler, scheduler_options=sched_opts, karras_cap=_karras_cap(spec, job.sampler, "pipe"),
        seeds=job.seeds, generator_device=job.generator_device, text=text, source=source, first_call=first_call,
        text_args=text_args, steps=steps, cfg_scale=job.cfg_scale,
        size_args=size_args, first_extra=first_extra, hires=hires, loras=_loras(job.loras))


def _karras_cap(spec: ModelSpec, sampler: str, pipe: str) -> str:
    """studio.image.samplers starts Karras spacing at sigma 80 on a zero-terminal-SNR schedule: the script says
    so too."""
    config = spec.path / "scheduler" / "scheduler_config.json" if spec.path is not None else None
    if not SAMPLERS[sampler][1].get("use_karras_sigmas") or config is None or not config.is_file():
        return ""
    scheduler = make_scheduler(sampler, json.loads(config.read_text(encoding="utf-8")))
    if "sigma_max" not in scheduler.config:
        return ""
    return (f"# Karras spacing from sigma {KARRAS_SIGMA_MAX:g}, not from the {terminal_sigma(scheduler):.0f} this "
            f"zero-terminal-SNR schedule ends at (as the studio does)\n"
            f"{pipe}.scheduler.register_to_config(sigma_max={KARRAS_SIGMA_MAX!r})\n")


def _loras(loras) -> str:
    if not loras:
        return ""
    from studio.image.lora import WEIGHTS
    lines = []
    for name, path, _w in loras:  # lora/<name>/pytorch_lora_weights.safetensors, or lora/<name>.safetensors
        folder = path.parent.name == name and path.name == WEIGHTS
        lines.append(f"# The LoRA {'folder' if folder else 'file'} {shown_path(path.parent if folder else path)} "
                     f"on the studio's server: copy it beside this script")
        lines.append(f"pipe.load_lora_weights({name if folder else '.'!r}, weight_name={path.name!r}, "
                     f"adapter_name={name!r})")
    lines.append(f"pipe.set_adapters({[n for n, _p, _w in loras]!r}, adapter_weights={[w for _n, _p, w in loras]!r})")
    return "# LoRA adapters and their weights\n" + "\n".join(lines) + "\n"


def _text(job, weighted: bool, sdxl: bool) -> tuple[str, str]:
    """(code before the call, the call's text arguments)."""
    from studio.image.weighting import plain_text
    if not weighted:
        negative = f"[{job.negative_prompt!r}] * len(seeds)" if job.negative_prompt else "None"
        return "", PLAIN_TEXT.format(prompt=job.prompt, negative=negative)
    pooled = SDXL_POOLED.format(plain=plain_text(job.prompt), plain_negative=plain_text(job.negative_prompt),
                                empty_negative=not job.negative_prompt) if sdxl else ""
    text = COMPEL_TEXT.format(spans=_spans(job.prompt), prompt=job.prompt, negative_spans=_spans(job.negative_prompt),
                              encoders=SDXL_ENCODERS if sdxl else SD_ENCODERS, pooled=pooled)
    return text, COMPEL_ARGS + (SDXL_POOLED_ARGS if sdxl else "")


def _spans(prompt: str) -> list[tuple[str, float]]:
    from studio.image.weighting import parse
    return [(t, float(w)) for t, w in parse(prompt)] or [("", 1.0)]
