"""Studio overhead for every modality: `studio.api` against a bare library call on the same loaded model.

    .venv/bin/python -m bench.bench_overhead        # prints Markdown rows

Paired runs in alternating order, median of the per-pair ratios studio / bare (target <= 1.05). Nothing is saved
(save=False), so the figure is the studio's own work: validation, the manager's lease, seeding, notices.
- 文本生成: mini-poem, 64 new characters at temperature 0.7, against `model.generate` with the same options.
- 文生图: mini-shapes, 20 steps DPM++ 2M Karras at CFG 7, against the pipeline call (as bench_mini_shapes.py).
- 语音合成: eSpeak NG, one sentence, against the engine's `synth` on the same instance.
- 文生视频: mini-motion at its defaults (8 frames 64x64, 20 steps, CFG 7), against the pipeline call with the
  studio's own arguments.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Callable

import torch


ROOT = Path(__file__).resolve().parent.parent


def paired(studio: Callable[[int], object], bare: Callable[[int], object], runs: int) -> tuple[float, float, float]:
    """(median studio s, median bare s, median of paired ratios); the order alternates so drift cancels."""
    s_times, b_times = [], []
    for i in range(runs):
        first, second = (studio, bare) if i % 2 == 0 else (bare, studio)
        times = []
        for fn in (first, second):
            t0 = time.perf_counter()
            fn(i)
            times.append(time.perf_counter() - t0)
        s, b = times if i % 2 == 0 else times[::-1]
        s_times.append(s)
        b_times.append(b)
    return statistics.median(s_times), statistics.median(b_times), statistics.median(
        s / b for s, b in zip(s_times, b_times))


def text(runs: int):
    from studio import api
    from studio.core.manager import manager
    api.generate_text("床前", "mini-poem", 0.7, 0, 1.0, 64, 1.0, seed=0)  # loads and warms
    tm = manager().get("mini-poem")
    ids = tm.tokenizer("床前明月光", return_tensors="pt").input_ids
    pad = tm.tokenizer.pad_token_id if tm.tokenizer.pad_token_id is not None else tm.tokenizer.eos_token_id

    def bare(i):
        with torch.no_grad():
            torch.manual_seed(i)
            tm.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), pad_token_id=pad, do_sample=True,
                              temperature=0.7, top_k=0, top_p=1.0, max_new_tokens=64, repetition_penalty=1.0)
    return paired(lambda i: api.generate_text("床前明月光", "mini-poem", 0.7, 0, 1.0, 64, 1.0, seed=i), bare, runs)


def image(runs: int):
    from studio import api
    from studio.core.manager import manager
    from studio.image.samplers import make_scheduler
    prompt = "蓝色背景上的一个大红色圆形，在左边"
    api.generate_image(prompt, seed=0, save=False)
    pipe = manager().get("mini-shapes")
    base = pipe.scheduler.config

    def bare(i):
        pipe.scheduler = make_scheduler("DPM++ 2M Karras", base)
        pipe(prompt, num_inference_steps=20, guidance_scale=7, width=64, height=64,
             generator=torch.Generator("cpu").manual_seed(i))
    return paired(lambda i: api.generate_image(prompt, seed=i, steps=20, cfg_scale=7, sampler="DPM++ 2M Karras",
                                               save=False), bare, runs)


def speech(runs: int):
    from studio import api
    from studio.core.manager import manager
    sentence = "大家好，今天我们学习语音合成。"
    api.synthesize_speech(sentence, "espeak", save=False)
    engine = manager().get("espeak")
    return paired(lambda i: api.synthesize_speech(sentence, "espeak", save=False),
                  lambda i: engine.synth(sentence, "cmn", 175, 50, 100), runs)


def video(runs: int):
    from studio import api
    from studio.core.manager import manager
    prompt = "蓝色背景上的红色圆形从左向右移动"
    api.generate_video(prompt, seed=0, save=False)
    pipe = manager().get("mini-motion")

    def bare(i):  # the studio's arguments for mini-motion's defaults
        pipe(prompt, negative_prompt=None, height=64, width=64, num_frames=8, num_inference_steps=20,
             guidance_scale=7.0, generator=torch.Generator("cpu").manual_seed(i), output_type="np")
    return paired(lambda i: api.generate_video(prompt, seed=i, save=False), bare, runs)


def main(runs: int = 20) -> None:
    torch.set_num_threads(2)
    from studio.core.config import configure
    configure([], env={"STUDIO_HUB": "local"})
    print("| modality | studio (median) | bare (median) | studio / bare (median of paired ratios) |")
    print("|---|---|---|---|")
    for name, fn in (("文本生成 mini-poem, 64 characters", text), ("文生图 mini-shapes, 20 steps", image),
                     ("语音合成 eSpeak NG, one sentence", speech), ("文生视频 mini-motion, 8 frames, 20 steps", video)):
        s, b, ratio = fn(runs)
        print(f"| {name} | {s * 1000:.1f} ms | {b * 1000:.1f} ms | {ratio:.3f} |", flush=True)


if __name__ == "__main__":
    main()
