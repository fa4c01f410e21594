"""Music synth speed: `studio.music.synth.render` of 16 bars of 2/4 at tempo 90 (21.6 s of audio), per instrument.

    .venv/bin/python -m bench.bench_music_synth
    .venv/bin/python -m bench.bench_music_synth --bars 32 --runs 9

The tune is a fixed pentatonic walk (gong = C, G3..A5) of sixteenths to half notes, with a few rests, as
mini-melody writes them. One untimed render first (imports, caches), then the best of `--runs`. Target (issue 42):
16 bars < 1 s. Prints a Markdown table for bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import time

import numpy as np

from studio.music import synth
from studio.music.notes import Note


SCALE = [55, 57, 60, 62, 64, 67, 69, 72, 74, 76, 79, 81]  # G3 .. A5, gong = C


def tune(bars: int, seed: int = 0) -> list[Note]:
    """`bars` bars of 2/4: a pentatonic walk of 1-8 sixteenths, about one rest in twenty."""
    rng = np.random.default_rng(seed)
    notes, step = [], 5
    for bar in range(bars):
        at = 0.0
        while at < 2.0:
            length = min(float(rng.choice([0.25, 0.25, 0.5, 0.5, 0.5, 0.5, 1.0, 1.0, 1.5, 2.0])), 2.0 - at)
            step = int(np.clip(step + rng.integers(-2, 3), 0, len(SCALE) - 1))
            pitch = None if rng.random() < 0.05 else SCALE[step]
            notes.append(Note(pitch, bar * 2.0 + at, length, bar))
            at += length
    return notes


def best_of(runs: int, notes: list[Note], instrument: str) -> float:
    synth.render(notes, tempo=90, instrument=instrument)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        synth.render(notes, tempo=90, instrument=instrument)
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bars", type=int, default=16)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args(argv)
    notes = tune(args.bars)
    sounding = sum(n.pitch is not None for n in notes)
    print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}, "
          f"load average {os.getloadavg()[0]:.2f}, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"{args.bars} bars of 2/4 at tempo 90: {len(notes)} notes ({sounding} sounding), "
          f"{synth.seconds(notes, 90):.2f} s of audio at 24 kHz\n")
    print("| instrument | render, best of %d | target |\n|---|---|---|" % args.runs)
    for key, instrument in synth.INSTRUMENTS.items():
        print(f"| {instrument.zh} {key} | {best_of(args.runs, notes, key) * 1000:.0f} ms | < 1 s |")


if __name__ == "__main__":
    main()
