"""The public Python API: every control on the studio's pages is a parameter here.

    from studio import api
    result = api.generate_image("a red circle", model="mini-shapes", seed=42)
    result.images[0].save("circle.png")

The Gradio events call these functions and carry the same names (`api_name`), so a
`gradio_client` user gets the same calls. Errors a user can cause raise `StudioError`, whose
message reads in Chinese or English (`err.message("en")`); `lang=` picks the language of notices.
"""
from ..errors import StudioError
from ..results import GridResult, ImageResult, SpeechResult, TextResult, VideoResult
from .common import model_defaults
from .image import MAX_BATCH, MAX_BATCH_COUNT, count_tokens, export_code, generate_image, image_samplers, read_infotext
from .experiment import optimisation_experiment
from .grid import xy_plot
from .prompting import build_prompt, translate_prompt
from .explain import cfg_parts, denoising_timeline, forward_diffusion
from .models import (delete, download, list_models, load, local_models, manager_status, needs_download, unload,
                     unload_all)
from .text import (COURSE_TEMPERATURES, MAX_NEW_TOKENS, chat, compare_temperatures, count_text_tokens, decode_tokens,
                   export_text_code, generate_text, next_token, stream_chat, stream_text, token_distribution)
from .templates import fill_template, text_template, text_templates
from .lora import inkwash_dataset, lora_parameters, train_lora
from .speech import dialogue, espeak_phonemes, fixed_voice, prosody_comparison, speech_code, synthesize_speech
from .crossmodal import (alignment_score, compose_page, crossmodal_defaults, make_storyboard, storyboard_video,
                         story_images, topology_project, write_article, write_series)
from .video import export_video_code, generate_video, recommend_video_settings

__all__ = ["StudioError", "ImageResult", "list_models", "manager_status", "needs_download", "load", "unload",
           "unload_all",
           "download", "delete", "local_models", "model_defaults", "generate_image", "export_code", "count_tokens", "read_infotext",
           "image_samplers", "MAX_BATCH", "MAX_BATCH_COUNT", "MAX_NEW_TOKENS", "TextResult", "generate_text", "token_distribution",
           "VideoResult", "generate_video", "forward_diffusion", "denoising_timeline", "cfg_parts", "xy_plot", "GridResult", "build_prompt", "translate_prompt", "optimisation_experiment", "compare_temperatures",
           "stream_text", "chat", "stream_chat", "next_token", "decode_tokens", "count_text_tokens", "export_text_code",
           "text_templates", "text_template", "fill_template",
           "synthesize_speech", "dialogue", "SpeechResult",
           "prosody_comparison", "fixed_voice", "speech_code", "espeak_phonemes",
           "export_video_code", "recommend_video_settings", "train_lora", "lora_parameters", "inkwash_dataset",
           "crossmodal_defaults", "write_article", "story_images", "alignment_score", "compose_page", "topology_project",
           "write_series", "make_storyboard", "storyboard_video"]
