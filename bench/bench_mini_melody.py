"""mini-melody end to end: `api.generate_music` of 16 bars (the model writes the notes token by token on this CPU,
the synthesiser plays them), as the page's 生成音乐 runs it, without saving.

    .venv/bin/python -m bench.bench_mini_melody
    .venv/bin/python -m bench.bench_mini_melody --bars 32 --runs 9

One untimed call first (loads the model), then the best and median of `--runs` seeds. Target (issue 42): 16 bars
with audio < 1 s. Prints a Markdown table for bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import statistics
import time

from studio import api


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bars", type=int, default=16)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    api.generate_music(bars=args.bars, seed=0, save=False)
    print("| meter | instrument | best | median | notes | audio |\n|---|---|---|---|---|---|")
    for meter, instrument in (("2/4", "guzheng"), ("3/4", "dizi")):
        times, result = [], None
        for seed in range(1, args.runs + 1):
            start = time.perf_counter()
            result = api.generate_music(meter=meter, bars=args.bars, instrument=instrument, seed=seed, save=False)
            times.append(time.perf_counter() - start)
        print(f"| {meter} | {instrument} | {min(times) * 1000:.0f} ms | {statistics.median(times) * 1000:.0f} ms | "
              f"{len(result.notes)} | {len(result.audio) / result.sample_rate:.1f} s |")


if __name__ == "__main__":
    main()
