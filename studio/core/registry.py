"""Model cards: what the studio knows about each model before it is downloaded or loaded.

Read-only table: the tabs read it directly (tabs/ imports only studio.api, studio.api.web and such tables).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


ASSETS = Path(__file__).resolve().parents[2] / "assets"
MINI_DIR = ASSETS / "models"

GB = 1024**3
MB = 1024**2

# Weight formats that are never fetched: pickles (unless the operator opts in), other frameworks.
_NOT_WEIGHTS = ["*.ckpt", "*.bin", "*.pt", "*.pth", "*.msgpack", "*.h5", "*.onnx", "*.onnx_data", "*openvino*", "*.mlmodel*"]


@dataclass(frozen=True)
class ModelCard:
    key: str
    task: str  # image | text | speech | video | music | embedding | safety | controlnet | depth
    title: dict[str, str]
    loader: str  # name in studio.core.loaders.LOADERS
    approx_bytes: int  # in memory at the default precision of a GPU (fp16/bf16)
    licence: str | dict[str, str]  # licence ids; a {"zh", "en"} pair where it needs words (what each licence covers)
    modelscope_id: str | None = None
    hf_id: str | None = None
    revision: dict[str, str] = field(default_factory=dict)  # per hub: revision to download
    builtin: bool = False  # ships in assets/models (the mini models), or with an installed package (package_data)
    package_data: str | None = None  # "package:folder": a built-in engine's files inside an installed wheel
    ignore_patterns: tuple[str, ...] = ()
    defaults: dict = field(default_factory=dict)  # generation defaults and limits for the tabs
    options: dict = field(default_factory=dict)  # memory options: vae_slicing, vae_tiling, cpu_offload

    @property
    def step_seconds(self) -> float:
        """Nominal seconds per unit of work (the scheduler's estimate until it has timed this model)."""
        return STEP_SECONDS.get(self.key, TASK_STEP_SECONDS.get(self.task, 0.5))

    def local_folder(self) -> Path | None:
        if self.package_data:
            import importlib.util
            package, folder = self.package_data.split(":")
            found = importlib.util.find_spec(package)
            return Path(found.origin).parent / folder if found and found.origin else None
        return MINI_DIR / self.key if self.builtin else None

    def download_ignore(self) -> list[str]:
        return _NOT_WEIGHTS + list(self.ignore_patterns)


# Qwen2.5-Instruct's own generation_config.json values.
_QWEN_DEFAULTS = dict(temperature=0.7, top_k=20, top_p=0.8, max_new_tokens=512, repetition_penalty=1.05)
# MusicGen's generation_config.json (sampling, guidance 3, top-k 250); 30 s clips in training.
_MUSICGEN_DEFAULTS = dict(duration=8.0, guidance=3.0, temperature=1.0, top_k=250, top_p=1.0, max_seconds=30.0)
_SD_DEFAULTS = dict(steps=25, cfg_scale=7.0, sampler="DPM++ 2M", schedule_type="Karras", max_side=1024)

CARDS: dict[str, ModelCard] = {c.key: c for c in [
    ModelCard("mini-shapes", "image", {"zh": "迷你形状（内置，离线）", "en": "Mini shapes (built-in, offline)"},
              "sd", 20 * MB, "Apache-2.0", builtin=True,
              # Not Karras: on this zero-terminal-SNR schedule, even started at sigma 80 (studio.image.samplers), its
              # spacing leaves few steps where the picture forms, and below ~10 steps the pictures fall apart.
              defaults=dict(width=64, height=64, steps=20, cfg_scale=7.0, sampler="DPM++ 2M",
                            schedule_type="Automatic", max_side=256, live=True)),
    ModelCard("mini-poem", "text", {"zh": "迷你唐诗（内置，离线）", "en": "Mini Tang poems (built-in, offline)"},
              "causal-lm", 10 * MB, {"zh": "Apache-2.0（语料 chinese-poetry：MIT）", "en": "Apache-2.0 (corpus: chinese-poetry, MIT)"}, builtin=True,
              defaults=dict(temperature=0.7, top_k=0, top_p=1.0, max_new_tokens=64, repetition_penalty=1.0)),
    ModelCard("mini-motion", "video", {"zh": "迷你运动（内置，离线）", "en": "Mini motion (built-in, offline)"},
              # AnimateDiff on mini-shapes (scripts/mini_motion/attempts/README.md says why not Wan nor the
              # 3D UNet): trained on 8 frames of 64x64; its motion modules take up to 32. CFG as mini-shapes'.
              "animatediff", 40 * MB, "Apache-2.0", builtin=True,
              defaults=dict(width=64, height=64, num_frames=8, fps=8, steps=20, cfg_scale=7.0, max_side=128,
                            max_frames=32, negative_prompt="")),
    ModelCard("mini-melody", "music", {"zh": "迷你民歌旋律（内置，离线，仅限非商业教学）",
                                       "en": "Mini folk melody (built-in, offline, non-commercial teaching only)"},
              # Trained on the Essen collection's Chinese folk songs in music21's corpus, whose licence "permits
              # non-commercial distribution and use"; the model card quotes it.
              "melody", 10 * MB, {"zh": "代码 Apache-2.0；训练数据 Essen 民歌库（法律状态不明，仅许可非商业分发和使用）",
                                  "en": "code Apache-2.0; data: the Essen folk song collection (legal status unclear, "
                                        "permitted for non-commercial distribution and use only)"}, builtin=True,
              defaults=dict(temperature=1.0, top_k=0, top_p=1.0, bars=16, tempo=90, instrument="guzheng",
                            velocity=90, max_bars=32)),
    ModelCard("espeak", "speech", {"zh": "eSpeak NG（离线机器音，供练习）", "en": "eSpeak NG (offline robotic voice, for practice)"},
              "espeak", 20 * MB, "GPL-3.0", builtin=True, package_data="espeakng_loader:espeak-ng-data",
              defaults=dict(voice="cmn", rate=175, pitch=50, volume=100)),
    ModelCard("sd15", "image", {"zh": "Stable Diffusion 1.5", "en": "Stable Diffusion 1.5"},
              "sd", 2 * GB, "CreativeML OpenRAIL-M",
              modelscope_id="AI-ModelScope/stable-diffusion-v1-5", hf_id="stable-diffusion-v1-5/stable-diffusion-v1-5",
              ignore_patterns=("v1-5-pruned*", "*non_ema*", "safety_checker/*", "*.fp16.*"),
              defaults=dict(width=512, height=512, **_SD_DEFAULTS)),
    ModelCard("sdxl", "image", {"zh": "Stable Diffusion XL 1.0", "en": "Stable Diffusion XL 1.0"},
              "sd", 7 * GB, "CreativeML OpenRAIL++-M",
              modelscope_id="AI-ModelScope/stable-diffusion-xl-base-1.0", hf_id="stabilityai/stable-diffusion-xl-base-1.0",
              revision={"modelscope": "v1.0.9"},
              ignore_patterns=("sd_xl_base_1.0*", "sd_xl_offset*", "*refiner*", "*.fp16.*"),
              defaults=dict(width=1024, height=1024, steps=30, cfg_scale=7.0, sampler="DPM++ 2M", schedule_type="Karras",
                            max_side=2048),
              options=dict(vae_slicing=True)),
    ModelCard("qwen2.5-0.5b", "text", {"zh": "通义千问 Qwen2.5-0.5B-Instruct", "en": "Qwen2.5-0.5B-Instruct"},
              "causal-lm", 1 * GB, "Apache-2.0",
              modelscope_id="Qwen/Qwen2.5-0.5B-Instruct", hf_id="Qwen/Qwen2.5-0.5B-Instruct", defaults=_QWEN_DEFAULTS),
    ModelCard("qwen2.5-1.5b", "text", {"zh": "通义千问 Qwen2.5-1.5B-Instruct", "en": "Qwen2.5-1.5B-Instruct"},
              "causal-lm", 3 * GB, "Apache-2.0",
              modelscope_id="Qwen/Qwen2.5-1.5B-Instruct", hf_id="Qwen/Qwen2.5-1.5B-Instruct", defaults=_QWEN_DEFAULTS),
    ModelCard("chattts", "speech", {"zh": "ChatTTS 对话语音", "en": "ChatTTS"},
              "chattts", int(1.2 * GB), {"zh": "权重 CC BY-NC 4.0，代码 AGPL-3.0", "en": "weights CC BY-NC 4.0, code AGPL-3.0"},
              modelscope_id="pzc163/chatTTS", hf_id="2Noise/ChatTTS"),
    ModelCard("wan2.1-t2v-1.3b", "video", {"zh": "通义万相 Wan2.1-T2V-1.3B", "en": "Wan2.1-T2V-1.3B"},
              "wan", 11 * GB, "Apache-2.0",
              modelscope_id="Wan-AI/Wan2.1-T2V-1.3B-Diffusers", hf_id="Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
              defaults=dict(width=832, height=480, num_frames=33, fps=16, steps=30, cfg_scale=5.0, max_side=1280,
                            max_frames=81, flow_shift=3.0),
              options=dict(cpu_offload=True)),
    ModelCard("text-to-video-ms-1.7b", "video", {"zh": "ModelScope 文生视频 1.7B（早期模型，256x256）",
                                                  "en": "ModelScope text-to-video 1.7B (an earlier model, 256x256)"},
              "t2v-sd", 4 * GB, "CC BY-NC 4.0", hf_id="ali-vilab/text-to-video-ms-1.7b",
              ignore_patterns=("*.fp16.*",)),
    ModelCard("musicgen-small", "music", {"zh": "MusicGen small（Meta，文本生成音乐）", "en": "MusicGen small (Meta)"},
              "musicgen", int(1.2 * GB), "CC BY-NC 4.0",
              modelscope_id="AI-ModelScope/musicgen-small", hf_id="facebook/musicgen-small",
              ignore_patterns=("*.bin",),  # the repo also holds 3.4 GB of pickles (state_dict.bin ...)
              defaults=_MUSICGEN_DEFAULTS),
    ModelCard("musicgen-melody", "music", {"zh": "MusicGen melody（Meta，可用一段旋律引导）",
                                           "en": "MusicGen melody (Meta, steered by a tune)"},
              "musicgen", int(3.1 * GB), "CC BY-NC 4.0", hf_id="facebook/musicgen-melody",
              ignore_patterns=("*.bin",), defaults=_MUSICGEN_DEFAULTS),
    ModelCard("sd-safety-checker", "safety", {"zh": "SD 安全检查器（由管理员开启）", "en": "SD safety checker (operator switch)"},
              "safety", 1200 * MB, "CreativeML OpenRAIL-M", modelscope_id="AI-ModelScope/stable-diffusion-safety-checker",
              hf_id="CompVis/stable-diffusion-safety-checker"),
    ModelCard("clip-vit-b32", "embedding", {"zh": "CLIP ViT-B/32（图文对齐评分）", "en": "CLIP ViT-B/32 (image-text score)"},
              "clip", 600 * MB, "MIT",
              modelscope_id="AI-ModelScope/clip-vit-base-patch32", hf_id="openai/clip-vit-base-patch32"),
    # ControlNets (issue 43): task "controlnet". Defaults: the control picture's `kind` ("canny" | "scribble" | "depth";
    # `kinds` where one net takes several), the `base` family whose UNet it steers ("sd15" | "sdxl" | "mini-shapes",
    # as studio.image.controlnets names them), the one `weights` file a download keeps and the `variant` that loads it
    # (None: the plain file), and the usual conditioning `scale`. Downloads keep config.json and that file: pickles
    # (_NOT_WEIGHTS), the fp32 safetensors where an fp16 one exists (twice the download, the same net once loaded),
    # sample pictures and the v1.1 repos' example scripts are ignored.
    ModelCard("controlnet-sd15-canny", "controlnet",
              {"zh": "ControlNet 边缘线（Canny，SD 1.5）", "en": "ControlNet canny edges (SD 1.5)"},
              "controlnet", 700 * MB, "OpenRAIL", hf_id="lllyasviel/control_v11p_sd15_canny",
              ignore_patterns=("diffusion_pytorch_model.safetensors", "*.png", "*.jpg", "*.webp", "*.py"),
              defaults=dict(kind="canny", base="sd15", weights="diffusion_pytorch_model.fp16.safetensors",
                            variant="fp16", scale=1.0)),
    ModelCard("controlnet-sd15-scribble", "controlnet",
              {"zh": "ControlNet 涂鸦（Scribble，SD 1.5）", "en": "ControlNet scribble (SD 1.5)"},
              "controlnet", 700 * MB, "OpenRAIL", hf_id="lllyasviel/control_v11p_sd15_scribble",
              ignore_patterns=("diffusion_pytorch_model.safetensors", "*.png", "*.jpg", "*.webp", "*.py"),
              defaults=dict(kind="scribble", base="sd15", weights="diffusion_pytorch_model.fp16.safetensors",
                            variant="fp16", scale=1.0)),
    ModelCard("controlnet-sd15-depth", "controlnet",
              {"zh": "ControlNet 深度图（Depth，SD 1.5）", "en": "ControlNet depth (SD 1.5)"},
              "controlnet", 700 * MB, "OpenRAIL", hf_id="lllyasviel/control_v11f1p_sd15_depth",
              ignore_patterns=("diffusion_pytorch_model.safetensors", "*.png", "*.jpg", "*.webp", "*.py"),
              defaults=dict(kind="depth", base="sd15", weights="diffusion_pytorch_model.fp16.safetensors",
                            variant="fp16", scale=1.0)),
    # diffusers' SDXL nets: their model cards recommend a conditioning scale of 0.5 "for good generalization".
    ModelCard("controlnet-sdxl-canny", "controlnet",
              {"zh": "ControlNet 边缘线（Canny，SDXL）", "en": "ControlNet canny edges (SDXL)"},
              "controlnet", int(2.5 * GB), "CreativeML OpenRAIL++-M",
              modelscope_id="AI-ModelScope/controlnet-canny-sdxl-1.0", hf_id="diffusers/controlnet-canny-sdxl-1.0",
              ignore_patterns=("diffusion_pytorch_model.safetensors", "*.png", "*.jpg", "*.webp", "*.py"),
              defaults=dict(kind="canny", base="sdxl", weights="diffusion_pytorch_model.fp16.safetensors",
                            variant="fp16", scale=0.5)),
    ModelCard("controlnet-sdxl-depth", "controlnet",
              {"zh": "ControlNet 深度图（Depth，SDXL）", "en": "ControlNet depth (SDXL)"},
              "controlnet", int(2.5 * GB), "CreativeML OpenRAIL++-M", hf_id="diffusers/controlnet-depth-sdxl-1.0",
              ignore_patterns=("diffusion_pytorch_model.safetensors", "*.png", "*.jpg", "*.webp", "*.py"),
              defaults=dict(kind="depth", base="sdxl", weights="diffusion_pytorch_model.fp16.safetensors",
                            variant="fp16", scale=0.5)),
    # xinsir's net: one safetensors file, stored in fp16 (2.5 GB), beside sample pictures (.webp).
    ModelCard("controlnet-sdxl-scribble", "controlnet",
              {"zh": "ControlNet 涂鸦（Scribble，SDXL，xinsir）", "en": "ControlNet scribble (SDXL, xinsir)"},
              "controlnet", int(2.5 * GB), "Apache-2.0", hf_id="xinsir/controlnet-scribble-sdxl-1.0",
              ignore_patterns=("*.png", "*.jpg", "*.webp", "*.py"),
              defaults=dict(kind="scribble", base="sdxl", weights="diffusion_pytorch_model.safetensors",
                            variant=None, scale=1.0)),
    # Trained on mini-shapes' own pictures (scripts/mini_control), half on their Canny edges, half on scribbles of
    # their outlines: mini-shapes' default net of both kinds. Its folder holds one safetensors file (fp16 on disk).
    ModelCard("mini-shapes-controlnet", "controlnet",
              {"zh": "迷你形状 ControlNet（内置，离线；涂鸦、边缘线）",
               "en": "Mini shapes ControlNet (built-in, offline; scribble, edges)"},
              "controlnet", 10 * MB, "Apache-2.0", builtin=True,
              defaults=dict(kind="scribble", kinds=("scribble", "canny"), base="mini-shapes",
                            weights="diffusion_pytorch_model.safetensors", variant=None, scale=1.0)),
    # Depth maps for the depth nets, from a learner's picture: Depth Anything V2 Small (Apache-2.0; its Base and Large
    # are CC BY-NC 4.0) in transformers' own classes, no remote code. It gives relative inverse depth, near = large,
    # as the depth ControlNets were trained on (near = white). The repo: config.json, model.safetensors (fp32,
    # 99 MB), preprocessor_config.json.
    ModelCard("depth-anything-v2-small", "depth",
              {"zh": "Depth Anything V2 Small（从图片估计深度图）", "en": "Depth Anything V2 Small (depth maps from pictures)"},
              "depth", 50 * MB, "Apache-2.0", hf_id="depth-anything/Depth-Anything-V2-Small-hf",
              defaults=dict(weights="model.safetensors")),
]}


# Seconds per unit of work -- a denoising step of one picture (image, video: of the clip), a new token (text), a
# character of speech, a LoRA training step -- on the device each model is meant for: a waiting learner's first
# estimate, until the scheduler has timed the model on this server (studio.core.scheduler). Mini models: this
# project's 2-core CPU (bench/RESULTS.md); the others: a 16-24 GB GPU, from their model pages' figures.
STEP_SECONDS = {"mini-shapes": 0.025, "mini-poem": 0.004, "mini-motion": 0.05, "espeak": 0.001, "sd15": 0.06,
                "sdxl": 0.2, "qwen2.5-0.5b": 0.03, "qwen2.5-1.5b": 0.04, "chattts": 0.03, "wan2.1-t2v-1.3b": 4.0,
                "text-to-video-ms-1.7b": 0.5, "mini-melody": 0.003, "musicgen-small": 0.02,
                "musicgen-melody": 0.04}
TASK_STEP_SECONDS = {"image": 0.1, "text": 0.03, "speech": 0.03, "video": 2.0, "music": 0.03}


def cards(task: str | None = None) -> list[ModelCard]:
    return [c for c in CARDS.values() if task is None or c.task == task]
