"""Each browser's history: its own files only, newest first, surviving a restart (a new process reads the file)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from studio import api
from studio.core import history


def test_history_is_per_browser_newest_first_and_survives_a_restart(studio_env, tmp_path):
    mine, theirs = history.new_id(), history.new_id()
    first = api.generate_image("a cat", model="tiny-sd15", steps=2, seed=1, width=32, height=32)
    second = api.generate_image("a dog", model="tiny-sd15", steps=2, seed=2, width=32, height=32)
    history.add(mine, first.paths, ["seed 1"])
    history.add(mine, second.paths, ["seed 2"])
    history.add(theirs, second.paths, ["seed 2"])
    assert history.items(mine) == [(str(second.paths[0]), "seed 2"), (str(first.paths[0]), "seed 1")]
    assert history.items(theirs) == [(str(second.paths[0]), "seed 2")]
    from studio.core.config import settings
    code = ("from studio.core import config, history; "
            f"config.configure([], env={{'STUDIO_OUTPUT_DIR': {settings().output_dir!r}}}); "
            f"print(len(history.items({mine!r})))")
    root = Path(__file__).resolve().parent.parent
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert fresh.stdout.strip() == "2"


def test_history_refuses_odd_ids_and_foreign_paths(studio_env, tmp_path):
    assert history.items("../../etc/passwd") == [] and history.items(None) == []
    history.add("../x", ["/etc/hostname"], ["x"])
    someone = history.new_id()
    history.add(someone, ["/etc/hostname"], ["outside the outputs folder"])
    assert history.items(someone) == []
