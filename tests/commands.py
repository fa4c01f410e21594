"""Running the project's command-line modules as their docs say (`python -m scripts.mini_shapes.train ...`)."""
from __future__ import annotations

import runpy
import sys
import warnings


def run_module(module: str, *argv: str) -> None:
    """`python -m module ARGV` from the repository root, in this process: runpy runs the module as -m does."""
    saved = sys.argv[:]
    sys.argv = [module, *argv]
    try:
        with warnings.catch_warnings():  # the test imported the module itself too: -m runs a fresh copy
            warnings.filterwarnings("ignore", message=".*found in sys.modules", category=RuntimeWarning)
            runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        sys.argv = saved
