"""MusicGen: a text description (and, for the melody variant, a tune) -> music (named in studio.core.loaders.LOADERS).

Generation is transformers' own `generate` (the T5 text encoder, the codebooks' delay pattern, classifier-free
guidance's doubled batch, the KV cache, the EnCodec decode) with one thing replaced: the draw. generate samples from
the global torch RNG, so a job interleaved with other learners' jobs between tokens (the fair scheduler pauses a job
inside its stop flag's is_set()) would get other music for the same seed. `_JobSampler`, a logits processor, draws
each token itself with the job's own torch.Generator and hands back scores that allow only that token, and generate
runs greedy (its argmax can only take it, and it never touches the global RNG).

Why one processor does guidance, temperature, top-k and top-p itself: generate puts a caller's processors *before*
the ones it builds (the ClassifierFreeGuidanceLogitsProcessor is appended to the caller's list, the temperature /
top-k / top-p warpers after it), so a processor cannot come last through the public API. `_JobSampler` therefore
applies transformers' own classes in generate's order (guidance, temperature, top-k, top-p) to the raw logits and
draws from the softmax exactly as generate does: the same seed gives what `generate(do_sample=True, ...)` gives
after `torch.manual_seed(seed)` (tests/test_musicgen.py checks it). What generate's own processors then see is a
one-token score row (both halves of the guidance batch equal), which they leave as it is.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass

import numpy as np
import torch

from studio.core.calls import check_stop
from studio.core.config import settings
from studio.core.device import pick_dtype
from studio.core.errors import StudioError
from studio.core.loaders import ModelWithProcessor
from studio.core.specs import ModelSpec


CLIP_SECONDS = 30.0  # MusicGen is trained on 30 s clips; its published generation_config stops at 1500 tokens
MODEL_TYPES = ("musicgen", "musicgen_melody")


class MusicgenModel(ModelWithProcessor):
    """A MusicGen model (plain or melody) and its processor (T5 tokenizer + feature extractor), one resident model."""


@dataclass
class AudioJob:
    prompt: str
    duration: float  # seconds of music
    guidance: float  # classifier-free guidance scale; <= 1: off
    temperature: float  # 0: greedy
    top_k: int  # 0: off
    top_p: float  # 0 or 1: off (audiocraft's MusicGen writes 0 for off; transformers 1)
    seed: int
    melody: tuple[np.ndarray, int] | None = None  # (audio, sampling rate) for the melody variant; else ignored


def load_musicgen(spec: ModelSpec, device: str) -> MusicgenModel:
    """MusicgenForConditionalGeneration, or MusicgenMelodyForConditionalGeneration when the folder's config.json
    says model_type "musicgen_melody", with the matching processor; safetensors only unless the operator allowed
    pickles. The classes are transformers' own, so no code shipped with a model ever runs."""
    from transformers import (
        MusicgenForConditionalGeneration,
        MusicgenMelodyForConditionalGeneration,
        MusicgenMelodyProcessor,
        MusicgenProcessor,
    )
    try:
        model_type = json.loads((spec.path / "config.json").read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError) as exc:
        raise StudioError("not_a_pipeline", model=spec.title, reason=f"config.json is unreadable ({exc})") from exc
    if model_type not in MODEL_TYPES:
        raise StudioError("not_a_pipeline", model=spec.title, reason=f"model_type {model_type!r} is not MusicGen")
    melody = model_type == "musicgen_melody"
    model_class = MusicgenMelodyForConditionalGeneration if melody else MusicgenForConditionalGeneration
    processor_class = MusicgenMelodyProcessor if melody else MusicgenProcessor
    processor = processor_class.from_pretrained(spec.path, local_files_only=True)
    model = model_class.from_pretrained(spec.path, dtype=pick_dtype(device), local_files_only=True,
                                        use_safetensors=not settings().allow_pickle)
    return MusicgenModel(model.to(device).eval(), processor)


def is_melody(mm: MusicgenModel) -> bool:
    """Whether the model takes a melody (MusicGen-Melody's chroma conditioning)."""
    return mm.model.config.model_type == "musicgen_melody"


def sampling_rate(mm: MusicgenModel) -> int:
    return int(mm.model.config.audio_encoder.sampling_rate)


def frame_rate(mm: MusicgenModel) -> int:
    """Audio frames (one token per codebook) per second: 50 for the 32 kHz EnCodec (hop 640)."""
    return int(mm.model.config.audio_encoder.frame_rate)


def _delay(mm: MusicgenModel) -> int:
    """Extra steps the codebook delay pattern takes: codebook k of a channel starts k steps late."""
    decoder = mm.model.config.decoder
    return decoder.num_codebooks // decoder.audio_channels - 1


def max_seconds(mm: MusicgenModel) -> float:
    """The longest music this checkpoint makes in one go: its 30 s training clips, or fewer where its positions end
    sooner (the melody variant's decoder also holds the text and 235 chroma frames)."""
    positions = mm.model.config.decoder.max_position_embeddings - _delay(mm) - 1
    if is_melody(mm):
        positions -= int(mm.model.config.chroma_length) + 64  # + the text's tokens (a long description)
    return float(min(CLIP_SECONDS, positions // frame_rate(mm)))


def max_new_tokens(mm: MusicgenModel, duration: float) -> int:
    """Decoder steps for `duration` seconds: a frame per step, plus the delay pattern's tail (1 s -> 50 + 3)."""
    return max(1, round(duration * frame_rate(mm))) + _delay(mm)


class _JobSampler:
    """The logits processor that draws each token with the job's own generator (see the module docstring).

    Called once per decoder step on the raw logits of every codebook row (both halves of the guidance batch when
    guidance > 1); it polls the job's stop flag first (`check_stop`: the scheduler's turn boundary), then applies
    guidance, temperature, top-k and top-p as generate would, draws one token per row from the softmax (argmax at
    temperature 0), and returns scores that are the float minimum everywhere but there (0): generate's own
    guidance processor maps two equal halves to themselves, and its argmax picks the drawn token."""

    def __init__(self, job: AudioJob, device: torch.device, stop: threading.Event | None):
        from transformers import (
            ClassifierFreeGuidanceLogitsProcessor,
            LogitsProcessorList,
            TemperatureLogitsWarper,
            TopKLogitsWarper,
            TopPLogitsWarper,
        )
        self.greedy = job.temperature <= 0
        stages = [ClassifierFreeGuidanceLogitsProcessor(float(job.guidance))] if job.guidance > 1 else []
        if not self.greedy:
            stages += [TemperatureLogitsWarper(float(job.temperature))] if job.temperature != 1.0 else []
            stages += [TopKLogitsWarper(int(job.top_k))] if job.top_k > 0 else []
            stages += [TopPLogitsWarper(float(job.top_p))] if 0 < job.top_p < 1.0 else []
        self.stages = LogitsProcessorList(stages)
        self.generator = None if self.greedy else torch.Generator(device=device).manual_seed(int(job.seed))
        self.stop = stop
        self.steps = 0

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        check_stop(self.stop)
        processed = self.stages(input_ids, scores)
        if self.greedy:
            tokens = processed.argmax(dim=-1, keepdim=True)
        else:
            tokens = torch.multinomial(torch.softmax(processed, dim=-1), 1, generator=self.generator)
        only = torch.full_like(scores, torch.finfo(scores.dtype).min)
        only.scatter_(1, tokens.repeat(scores.shape[0] // tokens.shape[0], 1), 0.0)
        self.steps += 1
        return only


def _mono_float(audio: np.ndarray) -> np.ndarray:
    """An uploaded recording as mono float32 in [-1, 1]: int PCM scaled, channels (samples x channels) averaged."""
    audio = np.asarray(audio)
    if np.issubdtype(audio.dtype, np.integer):
        audio = audio / float(np.iinfo(audio.dtype).max)
    audio = audio.astype(np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=1 if audio.shape[1] <= 8 else 0)
    return audio


def _inputs(mm: MusicgenModel, job: AudioJob) -> dict:
    """The processor's tensors on the model's device: token ids and mask, and the melody's chroma features."""
    options = dict(text=[job.prompt], padding=True, return_tensors="pt")
    if is_melody(mm) and job.melody is not None:
        import torchaudio
        audio, rate = job.melody
        target = int(mm.processor.feature_extractor.sampling_rate)
        wave = torch.from_numpy(_mono_float(audio))
        if int(rate) != target:  # the feature extractor's own resampling (it resamples tensors only)
            wave = torchaudio.functional.resample(wave, int(rate), target, rolloff=0.945, lowpass_filter_width=24)
        options.update(audio=wave.numpy(), sampling_rate=target)
    inputs = mm.processor(**options)
    device, dtype = mm.model.device, mm.model.dtype
    return {k: v.to(device, dtype=dtype) if v.is_floating_point() else v.to(device) for k, v in inputs.items()}


@torch.no_grad()
def generate(mm: MusicgenModel, job: AudioJob, stop: threading.Event | None = None) -> tuple[np.ndarray, int]:
    """(mono float32 audio, sampling rate) for `job`: `duration` seconds as the seed draws them.

    The job's stop flag is polled before the text is encoded, once per decoder step (50 a second of music) and
    after the EnCodec decode; a set flag raises StudioError("stopped") and nothing is returned. A stereo
    checkpoint's two channels are averaged."""
    from transformers import LogitsProcessorList

    # 1. Check inputs
    if not (job.prompt or "").strip():
        raise StudioError("music_empty_prompt")
    cap = max_seconds(mm)
    if not 1 <= job.duration <= cap:
        raise StudioError("music_bad_duration", seconds=job.duration, cap=f"{cap:g}")
    check_stop(stop)
    # 2. Encode the description (and the melody's chroma)
    inputs = _inputs(mm, job)
    # 3. Decode: generate's loop, greedy over the scores _JobSampler leaves (it does the sampling)
    sampler = _JobSampler(job, mm.model.device, stop)
    audio = mm.model.generate(**inputs, do_sample=False, guidance_scale=float(job.guidance), temperature=None,
                              top_k=None, top_p=None, max_new_tokens=max_new_tokens(mm, job.duration),
                              logits_processor=LogitsProcessorList([sampler]))
    check_stop(stop)
    # 4. Finish: (batch, channels, samples) -> mono float32
    return audio[0].float().mean(dim=0).cpu().numpy(), sampling_rate(mm)
