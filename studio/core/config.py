"""Every setting of the studio, in one table.

Each row is a flag of `python app.py` and an environment variable; a flag wins over the env var,
the env var over the default. The README's settings table is generated from SETTINGS
(`python -m studio.core.config --markdown`) and a test keeps the two in step.
"""
from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass
from typing import Any, Callable


def _bool(text: str) -> bool:
    return str(text).strip().lower() in {"1", "true", "yes", "on"}


def _list(text: str) -> list[str]:
    """Comma-separated values. Never os.pathsep: that is ':' on Linux and macOS, inside user:password and cuda:0."""
    return [p.strip() for p in str(text).split(",") if p.strip()]


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = str(text).strip().lower()
        if value not in allowed:
            raise ValueError(f"{text!r}: expected one of {', '.join(allowed)}")
        return value
    return parse


def _subset(*allowed: str) -> Callable[[str], list[str]]:
    def parse(text) -> list[str]:
        named = list(dict.fromkeys(_list(text) if isinstance(text, str) else text))
        unknown = [n for n in named if n not in allowed]
        if unknown:
            raise ValueError(f"{', '.join(unknown)}: expected some of {', '.join(allowed)}")
        return named
    return parse


def _paths(text: str) -> list[str]:
    """Folders: comma-separated, or os.pathsep-separated as PATH is."""
    return _list(str(text).replace(os.pathsep, ","))


_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "M": 1024**2, "MB": 1024**2, "G": 1024**3, "GB": 1024**3,
          "T": 1024**4, "TB": 1024**4}


def parse_bytes(text: str | int | float) -> int:
    """'6GB', '800 MB', '1.5G' or a plain number of bytes."""
    if isinstance(text, (int, float)):
        return int(text)
    m = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", str(text))
    if not m or m.group(2).upper().replace("IB", "B") not in _UNITS:
        raise ValueError(f"not a size: {text!r} (examples: 6GB, 800MB)")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper().replace("IB", "B")])


def _share(text: str) -> float | None:
    """A number of CPUs or GPUs (>= 0), or None for auto."""
    if str(text).strip().lower() == "auto":
        return None
    value = float(text)
    if value < 0:
        raise ValueError(f"{text!r}: expected auto or a number >= 0")
    return value


def _budget(text: str) -> int | None:
    """Bytes, or None for auto; parsed here once, so a typo fails at start-up with the reason."""
    if str(text).strip().lower() == "auto":
        return None
    return parse_bytes(text)


@dataclass(frozen=True)
class Setting:
    name: str
    env: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str
    flag: bool = True  # also a command-line flag of app.py


def _default_hub(env: dict[str, str]) -> str:
    # On a Hugging Face Space the HF hub is next door; elsewhere learners in China reach ModelScope.
    return "hf" if env.get("SPACE_ID") else "modelscope"


SETTINGS: list[Setting] = [
    Setting("host", "GRADIO_SERVER_NAME", "127.0.0.1", "Address the server listens on (0.0.0.0 for a lab server)."),
    Setting("port", "GRADIO_SERVER_PORT", 7860, "Port of the web page.", int),
    Setting("share", "STUDIO_SHARE", False, "Also open a public gradio.live link.", _bool),
    Setting("lang", "STUDIO_LANG", "zh", "Default language of the page and of messages: zh or en."),
    Setting("preload", "STUDIO_PRELOAD", [], "Model keys to load at start, comma separated (e.g. sd15,qwen2.5-0.5b).", _list),
    Setting("hub", "STUDIO_HUB", _default_hub, "Where downloads come from: modelscope, hf or local (never download). Default: hf on a Space (SPACE_ID set), else modelscope."),
    Setting("model_dirs", "STUDIO_MODEL_DIRS", ["models"], "Folders holding local models, comma separated; downloads go into the first. Local model paths must lie inside one of them.", _paths),
    Setting("output_dir", "STUDIO_OUTPUT_DIR", "outputs", "Folder where generated files are saved."),
    Setting("memory_budget", "STUDIO_MEMORY_BUDGET", "auto", "Memory the loaded models may use, e.g. 6GB or 800MB. auto: 60% of free RAM on CPU, 90% of free GPU memory on CUDA.", _budget),
    Setting("device", "STUDIO_DEVICE", "auto", "auto (CUDA if present, else CPU), cuda, cuda:1 or cpu."),
    Setting("attention", "STUDIO_ATTENTION", "sdpa", "Attention kernels: sdpa (PyTorch 2 default) or xformers (when installed)."),
    Setting("park_on_cpu", "STUDIO_PARK_ON_CPU", False, "On CUDA, move evicted models to CPU RAM for a fast return instead of dropping them.", _bool),
    Setting("hub_timeout", "STUDIO_HUB_TIMEOUT", 5.0, "Seconds to wait for a model hub to answer before a download is given up as offline.", float),
    Setting("allow_pickle", "STUDIO_ALLOW_PICKLE", False, "Operator opt-in: allow .bin/.ckpt (pickle) weights. Off: only safetensors load.", _bool),
    Setting("trust_remote_code", "STUDIO_TRUST_REMOTE_CODE", False, "Operator opt-in: allow models that ship their own Python code.", _bool),
    Setting("preview_every", "STUDIO_PREVIEW_EVERY", 5, "Live preview of an image run every N steps (decoded through the VAE; 0 = off).", int),
    Setting("queue_size", "STUDIO_QUEUE_SIZE", 100, "Most jobs waiting for the device, all learners together; more are refused with a message. Must be at least STUDIO_CLASS_SIZE x STUDIO_USER_QUEUE (checked at start).", int),
    Setting("class_size", "STUDIO_CLASS_SIZE", 40, "Learners the server is set up for: Gradio gets threads for all of them, and the queue must hold their jobs.", int),
    Setting("user_queue", "STUDIO_USER_QUEUE", 2, "Most jobs one learner (login + browser) may have waiting; the next is refused with a message. The operator's jobs are never refused.", int),
    Setting("turn_seconds", "STUDIO_TURN_SECONDS", 5.0, "Longest turn of one job on the device while others wait: a long job (video, LoRA training, long text) hands the device round the class between steps, then goes on.", float),
    Setting("queue_log", "STUDIO_QUEUE_LOG", "", "Optional file: one JSON line per scheduler event (a job joined, started, took a turn, ended; with learner, tab, model and the wait first shown), for the class benchmark and for seeing who waited how long. Empty: no file."),
    Setting("queue_policy", "STUDIO_QUEUE_POLICY", "fair", "fair: the device goes round the learners in turns, the operator's jobs first. fifo: one line in arrival order, each job to its end (the studio before fair turns; the benchmark's baseline).", _choice("fair", "fifo")),
    Setting("max_merge", "STUDIO_MAX_MERGE", 8, "Most picture rows one device call may carry for several learners: when a learner's turn comes, other learners' waiting pictures with the same settings (all but prompt, negative prompt, seed and CFG scale) run in the same batch, each with its own seed and CFG. 1: every job alone.", int),
    Setting("backend", "STUDIO_BACKEND", "local", "Where model work runs: local (this process, the default) or ray (the image family's work goes to a Ray Serve cluster; the web page, queue limits, files and history stay here). See README \"Scaling out\".", _choice("local", "ray")),
    Setting("ray_address", "RAY_ADDRESS", "", "With STUDIO_BACKEND=ray: the running Ray cluster to join (e.g. 10.0.0.5:6379; read by Ray itself too). Empty: STUDIO_WORKERS decides."),
    Setting("workers", "STUDIO_WORKERS", "", "With STUDIO_BACKEND=ray and no RAY_ADDRESS: auto starts a local Ray head with this machine's CPUs and GPUs (a multi-GPU lab server is one node).", _choice("", "auto")),
    Setting("backend_timeout", "STUDIO_BACKEND_TIMEOUT", 10.0, "Seconds to wait for the Ray cluster at RAY_ADDRESS at start; then the server says so and exits (or falls back, see below).", float),
    Setting("backend_fallback", "STUDIO_BACKEND_FALLBACK", "", "local: when the cluster cannot be reached at start, run model work in this process instead of exiting.", _choice("", "local")),
    Setting("ray_min_replicas", "STUDIO_RAY_MIN_REPLICAS", 1, "Ray Serve autoscaling: fewest replicas of each model family's deployment.", int),
    Setting("ray_max_replicas", "STUDIO_RAY_MAX_REPLICAS", 1, "Ray Serve autoscaling: most replicas of each model family's deployment (e.g. the number of GPUs).", int),
    Setting("ray_gpus", "STUDIO_RAY_GPUS", "auto", "GPUs each replica takes (ray_actor_options num_gpus), e.g. 1 or 0.5 (two replicas on one card). auto: the cluster's GPUs shared by every family's fewest replicas, 1 / a whole number, at most 1 (4 families on 1 GPU: 0.25 each); 0 without GPUs. A replica's memory budget (STUDIO_MEMORY_BUDGET=auto) is its share of its card or node.", _share),
    Setting("ray_cpus", "STUDIO_RAY_CPUS", "auto", "CPUs each replica takes (ray_actor_options num_cpus). auto: the cluster's CPUs shared as for GPUs (4 families on 2 CPUs: 0.5 each), at most 1.", _share),
    Setting("ray_models_per_replica", "STUDIO_RAY_MODELS_PER_REPLICA", 2, "@serve.multiplexed max_num_models_per_replica: models of a family one replica keeps; a request goes to a replica that holds its model, and the least recently used model of a full replica is unloaded.", int),
    Setting("ray_families", "STUDIO_RAY_FAMILIES", ["image", "text", "speech", "video", "music"], "With STUDIO_BACKEND=ray: the model families sent to the cluster, comma separated (one Serve deployment each); the others run in the web process. LoRA training and CLIP scores always run in the web process.", _subset("image", "text", "speech", "video", "music")),
    Setting("ray_start_timeout", "STUDIO_RAY_START_TIMEOUT", 180.0, "Seconds the web process waits for the families' replicas to run (they import the engines; replicas asking for more CPUs or GPUs than the cluster has never start); then it says what is missing and exits (or falls back, see STUDIO_BACKEND_FALLBACK).", float),
    Setting("ray_ongoing", "STUDIO_RAY_ONGOING", 16, "Ray Serve max_ongoing_requests: jobs one replica takes into its own fair line (they take turns there and merge into batches, up to STUDIO_MAX_MERGE rows). More wait in Serve's router, which then also sends a model's jobs to replicas that do not hold it yet: a class using one model spreads over every replica.", int),
    Setting("max_pixels", "STUDIO_MAX_PIXELS", 1536 * 1536, "Most pixels per generated image or video frame (width x height), on top of each model's own largest side.", int),
    Setting("max_batch", "STUDIO_MAX_BATCH", 8, "Most images per batch.", int),
    Setting("max_steps", "STUDIO_MAX_STEPS", 150, "Most denoising steps per image or video.", int),
    Setting("max_frames", "STUDIO_MAX_FRAMES", 81, "Most frames per video (on top of each model's own cap).", int),
    Setting("max_text", "STUDIO_MAX_TEXT", 20000, "Most characters in any text a user sends (prompts, articles, speech text).", int),
    Setting("max_new_tokens", "STUDIO_MAX_NEW_TOKENS", 2048, "Most new tokens per text generation.", int),
    Setting("max_upload_mb", "STUDIO_MAX_UPLOAD_MB", 20, "Largest upload in MB (Gradio refuses bigger files before they reach the studio).", int),
    Setting("max_upload_pixels", "STUDIO_MAX_UPLOAD_PIXELS", 4096 * 4096, "Most pixels in an uploaded image; bigger ones (and decompression bombs) are refused.", int),
    Setting("max_lora_steps", "STUDIO_MAX_LORA_STEPS", 2000, "Most LoRA training steps per run.", int),
    Setting("auth", "STUDIO_AUTH", [], "Optional login: user:password pairs, comma separated (e.g. teacher:pw1,class:pw2). Empty (and no STUDIO_AUTH_FILE): no login.", _list),
    Setting("auth_file", "STUDIO_AUTH_FILE", "", "Login accounts from a file, one user:password a line (one per learner: python -m studio.core.accounts FILE makes a class list)."),
    Setting("operators", "STUDIO_OPERATORS", [], "Login names that are operators (teachers): they manage models, the queue, running jobs and retention, and may open any learner's files.", _list),
    Setting("shared_logins", "STUDIO_SHARED_LOGINS", [], "Login names several learners share (e.g. group1,group2): their files and runs are told apart by browser, not by login. A lone learner account is always taken as shared.", _list),
    Setting("operator_view", "STUDIO_OPERATOR_VIEW", False, "Without login on a public address (0.0.0.0, a Space): make every visitor an operator. Without login on 127.0.0.1 the local user is one anyway; with login only STUDIO_OPERATORS are.", _bool),
    Setting("login_attempts", "STUDIO_LOGIN_ATTEMPTS", 5, "Wrong passwords in a row (per login name and address) before login is locked for a while.", int),
    Setting("login_lockout", "STUDIO_LOGIN_LOCKOUT", 30.0, "Seconds of the first lock after too many wrong passwords; each further failure doubles it (at most an hour).", float),
    Setting("classroom", "STUDIO_CLASSROOM", False, "Start in 课堂模式: large fonts and controls for a projector (each browser can switch it).", _bool),
    Setting("safety_checker", "STUDIO_SAFETY_CHECKER", False, "Run the SD safety checker (sd-safety-checker, downloaded by the operator) on every generated picture; flagged ones are blacked out with a notice.", _bool),
    Setting("blocklist", "STUDIO_BLOCKLIST", "", "Optional prompt blocklist for classes: a text file, one word or phrase per line; prompts containing one are refused."),
    Setting("output_max_age_days", "STUDIO_OUTPUT_MAX_AGE_DAYS", 0.0, "Delete generated files older than this many days (0 = keep). Trained LoRAs and the history index are kept.", float),
    Setting("output_quota_mb", "STUDIO_OUTPUT_QUOTA_MB", 0.0, "Keep the outputs folder under this many MB by deleting the oldest files (0 = no quota). Files younger than 15 minutes are never deleted.", float),
    Setting("temp_quota_mb", "STUDIO_TEMP_QUOTA_MB", 200.0, "Keep Gradio's temporary folder (GRADIO_TEMP_DIR: live previews, copies of results sent to pages, uploads) under this many MB by deleting the oldest files (0 = no quota). Files younger than 2 minutes are never deleted.", float),
    Setting("temp_max_age_min", "STUDIO_TEMP_MAX_AGE_MIN", 120.0, "Gradio's delete_cache: the temporary files this server made are deleted when older than this many minutes (0 = kept until the server stops).", float),
    Setting("temp_sweep_s", "STUDIO_TEMP_SWEEP_S", 60, "Seconds between sweeps of the temporary folder (the quota above and Gradio's delete_cache).", int),
    Setting("closed_sessions", "STUDIO_CLOSED_SESSIONS", 8, "Closed browser tabs whose server-side values (gr.State and updated components, about 0.8 MB each) are kept in case the page comes back; older ones are freed at once (Gradio alone keeps up to 10,000).", int),
    Setting("max_sessions", "STUDIO_MAX_SESSIONS", 300, "Most sessions (open pages and API callers without a page) whose server-side values are kept; the least recently used are dropped first (Gradio's state_session_capacity).", int),
    Setting("ai_label", "STUDIO_AI_LABEL", False, "Stamp a visible \"AI生成\" mark on generated images and video frames (China's labelling rules for public services). The implicit label in every output's metadata is always written.", _bool),
    Setting("content_producer", "STUDIO_CONTENT_PRODUCER", "AIGC Studio", "Service name (or filing number) written as ContentProducer in every output's implicit AIGC label."),
    Setting("hf_endpoint", "HF_ENDPOINT", "https://huggingface.co", "Hugging Face hub address or mirror (read by huggingface_hub itself).", flag=False),
    Setting("modelscope_domain", "MODELSCOPE_DOMAIN", "www.modelscope.cn", "ModelScope address or mirror (read by modelscope itself).", flag=False),
]


class Settings(dict):
    """The resolved settings; attribute access for convenience (settings.port)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(name) from exc


def _default(setting: Setting, env: dict[str, str]) -> Any:
    """The default, parsed as a typed value would be (a setting has one type, set or not: "auto" -> None)."""
    value = setting.default(env) if callable(setting.default) else setting.default
    return setting.parse(value) if isinstance(value, str) else value


def _from_env(env: dict[str, str]) -> Settings:
    values = Settings()
    for s in SETTINGS:
        raw = env.get(s.env)
        values[s.name] = s.parse(raw) if raw not in (None, "") else _default(s, env)
    return values


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="AIGC Studio")
    for s in SETTINGS:
        if not s.flag:
            continue
        opt = "--" + s.name.replace("_", "-")
        if s.parse is _bool:
            p.add_argument(opt, action="store_true", default=None, help=f"{s.help} [{s.env}]")
        else:
            p.add_argument(opt, default=None, help=f"{s.help} [{s.env}]")
    return p


_current: Settings | None = None


def configure(argv: list[str] | None = None, env: dict[str, str] | None = None) -> Settings:
    """Resolve settings from flags (argv) over env vars over defaults, and make them current."""
    global _current
    values = _from_env(dict(os.environ) if env is None else env)
    if argv is not None:
        by_name = {s.name: s for s in SETTINGS}
        for name, raw in vars(parser().parse_args(argv)).items():
            if raw is not None:
                values[name] = raw if isinstance(raw, bool) else by_name[name].parse(raw)
    values["lang"] = values["lang"] if values["lang"] in ("zh", "en") else "zh"
    if values["queue_size"] < values["class_size"] * values["user_queue"]:  # a full class must fit in the line
        raise ValueError(f"STUDIO_QUEUE_SIZE={values['queue_size']} is less than STUDIO_CLASS_SIZE x STUDIO_USER_QUEUE"
                         f" = {values['class_size']} x {values['user_queue']}: raise the queue size or lower the others")
    _current = values
    from PIL import Image
    Image.MAX_IMAGE_PIXELS = values["max_upload_pixels"]  # PIL itself refuses bombs past twice this, even in Gradio
    return values


def use(values: dict) -> Settings:
    """Make resolved settings current as they are (a Ray replica gets the web process's, flags included)."""
    global _current
    _current = Settings(values)
    from PIL import Image
    Image.MAX_IMAGE_PIXELS = _current["max_upload_pixels"]
    return _current


def settings() -> Settings:
    return _current if _current is not None else configure()


def markdown_table() -> str:
    rows = ["| flag | env var | default | meaning |", "|---|---|---|---|"]
    for s in SETTINGS:
        flag = "`--" + s.name.replace("_", "-") + "`" if s.flag else "—"
        default = "(see meaning)" if callable(s.default) else s.default
        if isinstance(default, list):
            default = ",".join(default) or "(none)"
        rows.append(f"| {flag} | `{s.env}` | `{default}` | {s.help} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
