"""查看代码 for 文生视频: the plain diffusers script that makes the page's video."""
from __future__ import annotations

from studio.core.codegen import model_source
from studio.core.specs import ModelSpec
from studio.video.engine import VideoJob


TEMPLATE = '''\
# Reproduces the studio's video: {title}
# pip install torch diffusers transformers safetensors imageio imageio-ffmpeg{extra_pip}
import numpy as np
import torch
from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline
from diffusers.utils import export_to_video
from PIL import Image
{load_source}
device = "cuda" if torch.cuda.is_available() else "cpu"
# The VAE stays in fp32 (its decoder is unstable in half precision); the rest bf16 on a GPU, fp32 on a CPU
vae = AutoencoderKLWan.from_pretrained(model_path, subfolder="vae", dtype=torch.float32)
pipe = WanPipeline.from_pretrained(model_path, vae=vae, dtype=torch.bfloat16 if device == "cuda" else torch.float32)
{placement}
# Flow shift {flow_shift}: the UniPC flow-matching scheduler's shift (3.0 for 480p, 5.0 for 720p)
pipe.scheduler = UniPCMultistepScheduler.from_config(pipe.scheduler.config, flow_shift={flow_shift})

{call}'''

CALL = '''frames = pipe(
    prompt={prompt!r},
    negative_prompt={negative!r},
    height={height},
    width={width},
    num_frames={num_frames},{frames_note}{text_length}
    num_inference_steps={steps},
    guidance_scale={cfg_scale},
    generator=torch.Generator("cpu").manual_seed({seed}),  # CPU noise: the same video on any machine
    output_type="np",
).frames[0]
frames = np.clip(np.rint(frames * 255), 0, 255).astype(np.uint8)  # as the studio rounds them
export_to_video([Image.fromarray(f) for f in frames], "video.mp4", fps={fps})
'''

OFFLOAD = '''if device == "cuda":
    pipe.enable_model_cpu_offload()  # the course's default for Wan: parts move to the GPU only while they run
else:
    pipe.to(device)'''


T2V_SD = '''\
# Reproduces the studio's video: {title} ({cls}: {what})
# pip install torch diffusers transformers safetensors imageio imageio-ffmpeg{extra_pip}
import numpy as np
import torch
from diffusers import {cls}
from diffusers.utils import export_to_video
from PIL import Image
{load_source}
device = "cuda" if torch.cuda.is_available() else "cpu"
pipe = {cls}.from_pretrained(model_path, dtype=torch.float16 if device == "cuda" else torch.float32)
pipe.to(device)

{call}'''


UNET_VIDEO = {"t2v-sd": ("TextToVideoSDPipeline", "a 3D UNet, ModelScope's text-to-video"),
              "animatediff": ("AnimateDiffPipeline", "a Stable Diffusion UNet with motion modules")}


def video_script(spec: ModelSpec, job: VideoJob, fps: int, flow_shift: float | None,
                 hub: str = "huggingface") -> str:
    load_source, extra_pip = model_source(spec, hub)
    if spec.loader in UNET_VIDEO:
        cls, what = UNET_VIDEO[spec.loader]
        return T2V_SD.format(title=spec.title, cls=cls, what=what, extra_pip=extra_pip, load_source=load_source,
                             call=_call(job, fps, "", ""))
    placement = OFFLOAD if spec.options.get("cpu_offload") else "pipe.to(device)"
    return TEMPLATE.format(title=spec.title, extra_pip=extra_pip, load_source=load_source, placement=placement,
                           flow_shift=flow_shift,
                           call=_call(job, fps, "  # 4k + 1: the VAE packs 4 frames into one latent frame "
                                      "after the first", TEXT_LENGTH))


# The prompt padding the model was trained with (the studio passes the same, engines/video.text_options).
TEXT_LENGTH = """
    # 512 for Wan2.1; less for a model trained on shorter prompts
    max_sequence_length=min(512, pipe.tokenizer.model_max_length),"""


def _call(job: VideoJob, fps: int, frames_note: str, text_length: str) -> str:
    """The pipeline call both scripts share, and the rounding and export the studio does after it."""
    return CALL.format(prompt=job.prompt, negative=job.negative_prompt or None, height=job.height, width=job.width,
                       num_frames=job.num_frames, frames_note=frames_note, text_length=text_length,
                       steps=job.steps, cfg_scale=job.cfg_scale, seed=job.seed, fps=fps)
