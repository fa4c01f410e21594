"""What the web page (tabs/) needs beyond the Python API: the server's settings, each learner's files, history and
login, the page's messages, and the helpers that draw a tab's 原理 pictures or fill its choices.

Tabs import `studio.api`, this module and the read-only tables (the modules whose docstring says "Read-only
table"), nothing else of studio/ (tests/test_package_layout.py checks it), so studio's internals move without
touching tabs/. Not part of the Python API (`studio.api.__all__`): a script has no page, login or browser.

`files`, `history` and `accounts` are re-exported whole: each module is one server-side service of the page
(who may open which file; one list per browser; the logins), used by several tabs.
"""
from studio.core import accounts, files, history
from studio.core.backend import remote as on_cluster
from studio.core.config import settings
from studio.core.files import scrub
from studio.core.hub import find_local
from studio.core.i18n import LANGS, human_bytes, pick, t
from studio.core.scheduler import Ticket
from studio.core.scheduler import scheduler as job_scheduler
from studio.core.validate import MAX_SEED, number
from studio.crossmodal.api import credit
from studio.crossmodal.page import iframe
from studio.crossmodal.story import article_fields, image_defaults, series_columns, series_parts, shot_columns
from studio.image.control import from_infotext as control_fields
from studio.image.grid import AXES as GRID_AXES
from studio.image.infotext import hires_fix, read_image_text, unapplied_fields
from studio.image.lora import available as available_loras
from studio.image.prompts import common_negative
from studio.image.prompts import sections as prompt_sections
from studio.image.shapes import COLOURS, POSITIONS, SHAPES, SIZES
from studio.image.shapes import describe as describe_shapes
from studio.image.uploads import check_pixels
from studio.lora.inkwash import DEMO_LEARNING_RATE, DEMO_STEPS
from studio.lora.train import COURSE_TARGETS, smoothed
from studio.music.view import piano_roll
from studio.speech.api import ESPEAK_RATES, PROSODY_SETTINGS
from studio.speech.espeak import VOICES
from studio.speech.view import picture as speech_picture
from studio.text.templates import MAX_FIELDS
from studio.video.plan import frame_differences, lecture_cost, patch_picture, wan_patches


def cluster_replicas() -> list[dict]:
    """The Ray cluster's replicas as they last reported (STUDIO_BACKEND=ray only: Ray is imported here, never at
    start)."""
    from studio.cluster import client
    return client.replicas()


def pause_cluster(paused: bool) -> None:
    """The class queue's pause on every replica (STUDIO_BACKEND=ray only)."""
    from studio.cluster import client
    client.pause(paused)


__all__ = [
    # the server: settings, the learners' files, history and logins, messages
    "settings", "files", "history", "accounts", "scrub", "find_local", "LANGS", "t", "pick", "human_bytes",
    "number", "MAX_SEED", "Ticket", "job_scheduler",
    # the Ray backend (README "Scaling out")
    "on_cluster", "cluster_replicas", "pause_cluster",
    # 文生图
    "GRID_AXES", "read_image_text", "unapplied_fields", "hires_fix", "control_fields", "available_loras",
    "common_negative", "prompt_sections", "check_pixels",
    "SHAPES", "COLOURS", "SIZES", "POSITIONS", "describe_shapes",
    # 文本生成, 语音合成, 音乐生成, 文生视频
    "MAX_FIELDS", "VOICES", "ESPEAK_RATES", "PROSODY_SETTINGS", "speech_picture", "piano_roll",
    "lecture_cost", "frame_differences", "patch_picture", "wan_patches",
    # 模型微调 (LoRA), 跨模态创作
    "DEMO_STEPS", "DEMO_LEARNING_RATE", "COURSE_TARGETS", "smoothed",
    "credit", "iframe", "article_fields", "image_defaults", "series_columns", "series_parts", "shot_columns",
]
