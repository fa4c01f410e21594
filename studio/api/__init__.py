"""The public Python API: every control on the studio's pages is a parameter here.

    from studio import api
    result = api.generate_image("a red circle", model="mini-shapes", seed=42)
    result.images[0].save("circle.png")

The Gradio events call these functions and carry the same names (`api_name`), so a
`gradio_client` user gets the same calls. Errors a user can cause raise `StudioError`, whose
message reads in Chinese or English (`err.message("en")`); `lang=` picks the language of notices.

This module only re-exports: each call lives in its modality's package (studio/image/api.py, ...).
"""
from studio.core.errors import StudioError
from studio.core.knobs import model_defaults
from studio.core.models import (
                                delete,
                                download,
                                list_models,
                                load,
                                local_models,
                                manager_status,
                                needs_download,
                                unload,
                                unload_all,
)
from studio.core.results import GridResult, ImageResult, MusicResult, SpeechResult, TextResult, VideoResult
from studio.crossmodal.api import (
                                alignment_score,
                                compose_page,
                                crossmodal_defaults,
                                make_storyboard,
                                story_images,
                                storyboard_video,
                                topology_project,
                                write_article,
                                write_series,
)
from studio.image.api import (
                                MAX_BATCH,
                                MAX_BATCH_COUNT,
                                count_tokens,
                                export_code,
                                generate_image,
                                image_samplers,
                                image_schedule_types,
                                prompt_schedule,
                                read_infotext,
)
from studio.image.control import ControlUnit, preview_control
from studio.image.experiment import optimisation_experiment
from studio.image.explain import cfg_parts, denoising_timeline, forward_diffusion
from studio.image.grid import xy_plot
from studio.image.prompting import build_prompt, translate_prompt
from studio.lora.api import inkwash_dataset, lora_parameters, train_lora
from studio.music.api import generate_music, melody_next_note, music_choices, music_code
from studio.speech.api import dialogue, espeak_phonemes, fixed_voice, prosody_comparison, speech_code, synthesize_speech
from studio.text.api import (
                                COURSE_TEMPERATURES,
                                MAX_NEW_TOKENS,
                                chat,
                                compare_temperatures,
                                count_text_tokens,
                                decode_tokens,
                                export_text_code,
                                generate_text,
                                next_token,
                                stream_chat,
                                stream_text,
                                token_distribution,
)
from studio.text.templates import fill_template, text_template, text_templates
from studio.video.api import export_video_code, generate_video, recommend_video_settings


__all__ = [
    "StudioError", "model_defaults", "GridResult", "ImageResult", "SpeechResult", "TextResult", "VideoResult",
    "MusicResult",
    # models (模型管理)
    "list_models", "manager_status", "needs_download", "load", "unload", "unload_all", "download", "delete",
    "local_models",
    # 文生图
    "generate_image", "export_code", "count_tokens", "read_infotext", "image_samplers", "MAX_BATCH", "MAX_BATCH_COUNT",
    "prompt_schedule", "image_schedule_types", "ControlUnit", "preview_control",
    "forward_diffusion", "denoising_timeline", "cfg_parts", "xy_plot", "build_prompt", "translate_prompt",
    "optimisation_experiment",
    # 文本生成
    "generate_text", "stream_text", "chat", "stream_chat", "token_distribution", "next_token", "decode_tokens",
    "count_text_tokens", "export_text_code", "compare_temperatures", "COURSE_TEMPERATURES", "MAX_NEW_TOKENS",
    "text_templates", "text_template", "fill_template",
    # 语音合成
    "synthesize_speech", "dialogue", "prosody_comparison", "fixed_voice", "speech_code", "espeak_phonemes",
    # 音乐生成
    "generate_music", "melody_next_note", "music_choices", "music_code",
    # 文生视频
    "generate_video", "export_video_code", "recommend_video_settings",
    # 模型微调 (LoRA)
    "train_lora", "lora_parameters", "inkwash_dataset",
    # 跨模态创作
    "crossmodal_defaults", "write_article", "story_images", "alignment_score", "compose_page", "topology_project",
    "write_series", "make_storyboard", "storyboard_video",
]
