"""查看代码: the plain diffusers script that reproduces what the page just made.

The course teaches that every control maps to a code parameter; the script shows that mapping with no
studio code in between (same model files, scheduler class and options, seed and generator device, and
the same call the studio makes), so running it gives the page's pixels.
"""
from __future__ import annotations

import json

from studio.core.codegen import model_source, shown_path
from studio.core.specs import ModelSpec
from studio.image.samplers import (
    AUTOMATIC,
    KARRAS_SIGMA_MAX,
    caps_sigma,
    class_name,
    make_scheduler,
    options,
    terminal_sigma,
)


IMAGE_TEMPLATE = '''\
# Reproduces the studio's image: {title}
# pip install torch diffusers transformers safetensors{extra_pip}
import torch
from diffusers import {pipeline}, {scheduler}
{imports}{load_source}
device = "cuda" if torch.cuda.is_available() else "cpu"
dtype = torch.float16 if device == "cuda" else torch.float32  # the studio runs fp32 on a CPU
pipe = {pipeline}.{load_call}.to(device)
# {sampler} = {scheduler} built from the model's own scheduler config
pipe.scheduler = {scheduler}.from_config(pipe.scheduler.config{scheduler_options})
{karras_cap}{loras}
seeds = {seeds}  # image i of the batch uses seed + i
# CPU noise: same picture on any machine
generators = [torch.Generator("{generator_device}").manual_seed(s) for s in seeds]
{text}{source}{controls}images = {first_call}(
{text_args}    num_inference_steps={steps},
    guidance_scale={cfg_scale},
{size_args}    generator=generators,{first_extra}{control_args}
).images
{hires}for image, seed in zip(images, seeds):
    image.save(f"image-{{seed}}.png")
'''

PLAIN_TEXT = '''\
    prompt=[{prompt!r}] * len(seeds),
    negative_prompt={negative},
'''

# Weighted, long or BREAK prompts: the studio parses (word:1.5) into (text, weight) spans and lets compel build the
# embeddings, 75 tokens per chunk, each part between BREAKs in chunks of its own, both sides padded to the same
# number of chunks.
COMPEL_TEXT = '''\
from compel import Compel, ReturnedEmbeddingsType
from compel.prompt_parser import FlattenedPrompt

{encoders}

def embed(compel, parts):  # parts: the (text, weight) spans between BREAKs
    chunks = [compel.build_conditioning_tensor_for_prompt_object(FlattenedPrompt(spans))[0][0] for spans in parts]
    return torch.cat(chunks, dim=1)


def pad(conditioning, empty, length):  # extra chunks of the empty prompt, so both sides have as many chunks
    while conditioning.shape[1] < length:
        conditioning = torch.cat([conditioning, empty.reshape(1, *empty.shape[-2:])], dim=1)
    return conditioning


def weighted(prompt_parts, negative_parts, first_part, negative_first_part, empty_negative):
    with torch.no_grad():
        pairs = [(embed(c, prompt_parts), embed(c, negative_parts)) for c in compels]
        length = max(t.shape[1] for pair in pairs for t in pair)
        cond = torch.cat([pad(p[0], c.conditioning_provider.empty_z, length) for c, p in zip(compels, pairs)], dim=-1)
        neg = torch.cat([pad(p[1], c.conditioning_provider.empty_z, length) for c, p in zip(compels, pairs)], dim=-1)
        embeds = {{"prompt_embeds": cond.repeat(len(seeds), 1, 1),
                  "negative_prompt_embeds": neg.repeat(len(seeds), 1, 1)}}
{pooled}    return embeds


'''
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
# SDXL's pooled embedding comes from the first chunk, so from the text before the first BREAK.
SDXL_POOLED = '''\
        pooled = compels[1].conditioning_provider.get_pooled_embeddings([first_part])
        neg_pooled = compels[1].conditioning_provider.get_pooled_embeddings([negative_first_part])
        if empty_negative and pipe.config.force_zeros_for_empty_prompt:
            embeds["negative_prompt_embeds"] = torch.zeros_like(embeds["negative_prompt_embeds"])  # as SDXL does
            neg_pooled = torch.zeros_like(neg_pooled)  # for an empty negative prompt
        embeds["pooled_prompt_embeds"] = pooled.repeat(len(seeds), 1)
        embeds["negative_pooled_prompt_embeds"] = neg_pooled.repeat(len(seeds), 1)
'''
WEIGHTED_CALL = "weighted({parts!r}, {negative_parts!r}, {first!r}, {negative_first!r}, {empty!r})"

# Prompt editing and alternation: each step's texts encoded once, swapped in after each step.
PROMPT_STEPS = '''\
def plain(prompt, negative):  # a text without syntax: the pipeline's own encoder, as the studio does
    with torch.no_grad():
        embeds = pipe.encode_prompt(prompt=[prompt] * len(seeds), device=pipe.device, num_images_per_prompt=1,
                                    do_classifier_free_guidance=True,
                                    negative_prompt=[negative] * len(seeds) if negative else None)
    return dict(zip(("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds",
                     "negative_pooled_prompt_embeds"), embeds))


class PromptSteps:
    """Prompt editing ([from:to:when]) and alternation ([a|b]) as A1111 applies them: steps count from 0 in each
    pass, and step s uses the first entry whose last step is not before it (a second-order sampler's two model
    calls per step share it). Every entry is padded to `length` tokens, so they all stack."""

    def __init__(self, schedule, length):  # [(last step, embeddings)]
        self.length = length
        with torch.no_grad():
            self.empty = pipe.encode_prompt(prompt=[""], device=pipe.device, num_images_per_prompt=1,
                                            do_classifier_free_guidance=False)[0]
        self.schedule = [(until, self.padded(embeds)) for until, embeds in schedule]
        self.arguments = self.schedule[0][1]
        self.tensors = ["latents", "prompt_embeds"] + (["add_text_embeds"] if "pooled_prompt_embeds" in self.arguments
                                                       else [])

    def padded(self, embeds):
        out = {}
        for name, e in embeds.items():
            while e.dim() == 3 and e.shape[1] < self.length:
                chunk = self.empty if e.any() else torch.zeros_like(e[:, :77])  # SDXL's zeroed empty negative
                e = torch.cat([e, chunk.expand(e.shape[0], -1, -1)], dim=1)
            out[name] = e
        return out

    def step_end(self, pipe, i, timestep, tensors):
        step = (i + 1) // pipe.scheduler.order  # the next step
        e = next((e for until, e in self.schedule if step <= until), self.schedule[-1][1])
        guided = pipe.do_classifier_free_guidance  # the pipeline then runs [negative rows, positive rows]
        tensors["prompt_embeds"] = torch.cat([e["negative_prompt_embeds"], e["prompt_embeds"]]) if guided \\
            else e["prompt_embeds"]
        if "pooled_prompt_embeds" in e:
            tensors["add_text_embeds"] = torch.cat([e["negative_pooled_prompt_embeds"], e["pooled_prompt_embeds"]]) \\
                if guided else e["pooled_prompt_embeds"]
        return tensors


'''
PASS_TEXTS = "{name}_texts = [  # {comment}: (last step, the texts up to it)\n{entries}]\n"
PASSES = '''\
length = max(e["prompt_embeds"].shape[1] for _until, e in {entries})  # tokens: whole 77-token chunks
{passes}'''
STEPWISE_ARGS = '''\
    **{name}.arguments,
    callback_on_step_end={name}.step_end,
    callback_on_step_end_tensor_inputs={name}.tensors,
'''


HIRES = '''\
# Hires fix: upscale x{scale} ({upscaler}), then image to image at denoising strength {strength}
second = AutoPipelineForImage2Image.from_pipe(pipe{controlnet})
second.scheduler = {scheduler}.from_config(pipe.scheduler.config{scheduler_options})
{karras_cap}{upscale}generators = [torch.Generator("{generator_device}").manual_seed(s) for s in seeds]
images = second(
{text_args}    image=upscaled,
    strength={strength},
    num_inference_steps={hires_steps},
    guidance_scale={cfg_scale},
    generator=generators,{control_args}
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


# ControlNet: each unit's net and the control image the page made from the learner's picture or drawing (its 预览)
CONTROLNET = '''\
# ControlNet unit {number}: {kind} (preprocessor: {preprocessor})
# Save the page's control image (its 预览) as {file} beside this script
{source}controlnet_{i} = ControlNetModel.from_pretrained(controlnet_path_{i}, torch_dtype=dtype,
                                               use_safetensors=True{variant})
control_{i} = Image.open({file!r}).convert("RGB").resize(({w}, {h}), Image.LANCZOS)
'''


def _controls(spec_of, job, hub: str, hires: tuple[int, int] | None) -> tuple[str, str, str, str]:
    """(code loading the nets and control images, the net(s) for from_pipe, the first and the hires call's
    arguments) for the job's ControlNet units; four empty strings without any. hires: the hires pass's size."""
    if not job.controls:
        return "", "", "", ""
    code = "from diffusers import ControlNetModel\n"
    for i, c in enumerate(job.controls):
        spec = spec_of(c.model)
        source, _pip = model_source(spec, hub)
        variant = spec.card.defaults.get("variant") if spec.card else None
        code += CONTROLNET.format(number=i + 1, kind=c.kind, preprocessor=c.preprocessor, file=f"control-{i}.png",
                                  source=source.replace("model_path", f"controlnet_path_{i}"), i=i,
                                  variant=f", variant={variant!r}" if variant else "", w=job.width, h=job.height)
    n = len(job.controls)
    if n > 1:
        code += "from diffusers import MultiControlNetModel\n"
    nets = "controlnet_0" if n == 1 else f"MultiControlNetModel([{', '.join(f'controlnet_{i}' for i in range(n))}])"
    pick = (lambda name: f"{name}_0") if n == 1 else (lambda name: f"[{', '.join(f'{name}_{i}' for i in range(n))}]")
    values = {k: [getattr(c, a) for c in job.controls] for k, a in
              (("controlnet_conditioning_scale", "weight"), ("control_guidance_start", "start"),
               ("control_guidance_end", "end"))}
    tail = "".join(f"\n    {k}={v[0] if n == 1 else v!r}," for k, v in values.items()) + \
        f"\n    guess_mode={job.guess_mode!r},"
    first_key = "image" if job.init_image is None else "control_image"
    first = f"\n    {first_key}={pick('control')},{tail}"
    if hires is not None:
        code += (f"hires_controls = [c.resize({hires}, Image.LANCZOS) for c in "
                 f"[{', '.join(f'control_{i}' for i in range(n))}]]\n")
    hires = f"\n    control_image={'hires_controls[0]' if n == 1 else 'hires_controls'},{tail}"
    return code, nets, first, hires


def _load_call(spec: ModelSpec, pipeline: str, sd15: bool) -> str:
    extra = ", safety_checker=None, requires_safety_checker=False" if sd15 else ""
    if spec.loader == "sd-single":  # a checkpoint from a model site, with the configs the studio ships
        config = f"assets/pipelines/{'sd15' if sd15 else 'sdxl'}"  # relative to a checkout (CONFIG_NOTE)
        return f"from_single_file(model_path, config={config!r}, torch_dtype=dtype{extra})"
    return f"from_pretrained(model_path, torch_dtype=dtype, use_safetensors=True{extra})"


def image_script(spec: ModelSpec, pipeline: str, hub: str, job, uses_compel=lambda prompt, negative: False,
                 spec_of=None) -> str:
    """The script for an ImageJob (studio.image.engine) on the model `spec`. Image to image and inpainting read
    the source (and mask) from init.png / mask.png beside the script. uses_compel(prompt, negative): whether the
    engine encodes those texts with compel (weighting syntax, BREAK, longer than one chunk), so the script does too.
    ControlNet units read their control images from control-0.png, control-1.png ... (spec_of: a net's ModelSpec)."""
    from studio.image.engine import hires_size, schedule_steps
    scheduler = class_name(job.sampler)
    load_source, extra_pip = model_source(spec, hub)
    if spec.loader == "sd-single":
        load_source += CONFIG_NOTE
    sd15 = pipeline == "StableDiffusionPipeline"
    sched_opts = "".join(f", {k}={v!r}" for k, v in options(job.sampler, job.schedule_type).items())
    text, text_args, hires_args, weighted = _text(job, uses_compel, pipeline == "StableDiffusionXLPipeline")
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
    hires_at = hires_size(job.width, job.height, job.hires.scale) if job.hires is not None else None
    controls, nets, control_args, hires_control_args = _controls(spec_of, job, hub, hires_at)
    if job.controls:
        imports += "from PIL import Image\n" if "from PIL" not in imports else ""
        kind = {"txt2img": "AutoPipelineForText2Image", "img2img": "AutoPipelineForImage2Image",
                "inpaint": "AutoPipelineForInpainting"}[job.mode]
        imports += f"from diffusers import {kind}\n"
        base = "first" if job.init_image is not None else "pipe"
        controls += f"first = {kind}.from_pipe({base}, controlnet={nets})\n"
        first_call = "first"
    hires = ""
    if job.hires is not None:
        imports += "from diffusers import AutoPipelineForImage2Image\nfrom PIL import Image\n"
        w, h = hires_size(job.width, job.height, job.hires.scale)
        latent = job.hires.upscaler == "Latent"
        if latent:
            first_extra += "\n    output_type=\"latent\","
        hires = HIRES.format(scale=job.hires.scale, upscaler=job.hires.upscaler, strength=job.hires.strength,
                             karras_cap=_karras_cap(spec, job, "second"), scheduler=scheduler,
                             scheduler_options=sched_opts, generator_device=job.generator_device,
                             upscale=(LATENT_UPSCALE if latent else LANCZOS_UPSCALE).format(w=w, h=h),
                             text_args=hires_args, hires_steps=schedule_steps(job.hires.steps, job.hires.strength),
                             cfg_scale=job.cfg_scale, controlnet=f", controlnet={nets}" if nets else "",
                             control_args=hires_control_args)
    if job.mask is not None:
        hires += ("images = [Image.composite(image, source, mask.point(lambda v: 255 if v >= 128 else 0)) "
                  "for image in images]\n")
    imports = "".join(dict.fromkeys(imports.splitlines(keepends=True)))  # each import once
    return IMAGE_TEMPLATE.format(
        title=spec.title, extra_pip=extra_pip + (" compel" if weighted else ""), pipeline=pipeline,
        scheduler=scheduler, imports=imports, load_source=load_source, load_call=_load_call(spec, pipeline, sd15),
        sampler=_sampler_label(job), scheduler_options=sched_opts, karras_cap=_karras_cap(spec, job, "pipe"),
        seeds=job.seeds, generator_device=job.generator_device, text=text, source=source, first_call=first_call,
        text_args=text_args, steps=steps, cfg_scale=job.cfg_scale,
        size_args=size_args, first_extra=first_extra, hires=hires, loras=_loras(job.loras), controls=controls,
        control_args=control_args)


def _sampler_label(job) -> str:
    """'Sampler "DPM++ 2M", schedule type "Karras"', as the page names them (Automatic: the sampler alone)."""
    kind = f', schedule type "{job.schedule_type}"' if job.schedule_type != AUTOMATIC else ""
    return f'Sampler "{job.sampler}"{kind}'


def _karras_cap(spec: ModelSpec, job, pipe: str) -> str:
    """studio.image.samplers starts Karras (Exponential, Beta) spacing at sigma 80 on a zero-terminal-SNR schedule:
    the script says so too."""
    config = spec.path / "scheduler" / "scheduler_config.json" if spec.path is not None else None
    if not caps_sigma(job.schedule_type) or config is None or not config.is_file():
        return ""
    scheduler = make_scheduler(job.sampler, json.loads(config.read_text(encoding="utf-8")), job.schedule_type)
    if scheduler.config.get("sigma_max") is None:
        return ""
    return (f"# {job.schedule_type} spacing from sigma {KARRAS_SIGMA_MAX:g}, not from the "
            f"{terminal_sigma(scheduler):.0f} this "
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


def _text(job, uses_compel, sdxl: bool) -> tuple[str, str, str, bool]:
    """(code before the first call, the first and the hires call's text arguments, whether compel is used)."""
    from studio.image import prompt_steps
    passes = {"first_pass": prompt_steps.segments(job)}
    if job.hires is not None:
        passes["hires_pass"] = prompt_steps.segments(job, hires=True)
    if all(prompt_steps.is_static(parts, job) for parts in passes.values()):
        if not uses_compel(job.prompt, job.negative_prompt):
            negative = f"[{job.negative_prompt!r}] * len(seeds)" if job.negative_prompt else "None"
            args = PLAIN_TEXT.format(prompt=job.prompt, negative=negative)
            return "", args, args, False
        code = _compel(sdxl) + f"text = {_encoding(job.prompt, job.negative_prompt, True)}  # {job.prompt!r}\n"
        return code, "    **text,\n", "    **text,\n", True
    compel = any(uses_compel(p.prompt, p.negative) for parts in passes.values() for p in parts)
    code = (_compel(sdxl) if compel else "") + PROMPT_STEPS
    for name, parts in passes.items():
        entries = "".join(f"    ({p.until}, {_encoding(p.prompt, p.negative, uses_compel(p.prompt, p.negative))}),\n"
                          for p in parts)
        code += PASS_TEXTS.format(name=name, entries=entries, comment="the first pass" if name == "first_pass" else
                                  "the hires pass (A1111 counts its `when` on from the first pass)")
    code += PASSES.format(entries=" + ".join(f"{name}_texts" for name in passes),
                          passes="".join(f"{name} = PromptSteps({name}_texts, length)\n" for name in passes))
    args = [STEPWISE_ARGS.format(name=name) for name in passes]
    return code + "\n", args[0], args[-1], compel


def _compel(sdxl: bool) -> str:
    return COMPEL_TEXT.format(encoders=SDXL_ENCODERS if sdxl else SD_ENCODERS, pooled=SDXL_POOLED if sdxl else "")


def _encoding(prompt: str, negative: str, weighted: bool) -> str:
    """The script's call that encodes these texts as the engine does (compel, or the pipeline's own encoder)."""
    if not weighted:
        return f"plain({prompt!r}, {negative!r})"
    from studio.image.weighting import parts
    first = lambda text: "".join(t for t, _ in parts(text)[0])  # noqa: E731
    return WEIGHTED_CALL.format(parts=_parts(prompt), negative_parts=_parts(negative), first=first(prompt),
                                negative_first=first(negative), empty=not negative)


def _parts(prompt: str) -> list[list[tuple[str, float]]]:
    """(text, weight) spans of each part between BREAKs, as studio.image.weighting hands them to compel."""
    from studio.image.weighting import parts
    return [[(t, float(w)) for t, w in part] or [("", 1.0)] for part in parts(prompt)]
