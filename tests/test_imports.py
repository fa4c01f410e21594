"""A fresh server's first jobs arrive together: the libraries' lazy imports must already be resolved."""
import subprocess
import sys

from tests.conftest import ROOT


FIRST_JOBS = """
import threading
from studio.core import config, imports
from studio.image import api
config.configure([], env={"STUDIO_HUB": "local"})
imports.warm()  # as app.py and each Ray replica do at start
errors, gate = [], threading.Barrier(8)
def first_picture_job():
    gate.wait()
    try:
        api._tokenizer("mini-shapes")  # the first thing an image job does with transformers
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=first_picture_job) for _ in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
print(len(errors), errors[:1])
"""


def test_eight_first_jobs_at_once_in_a_fresh_process_all_find_their_classes():
    out = subprocess.run([sys.executable, "-c", FIRST_JOBS], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().startswith("0 "), out.stdout  # without warm(): "cannot import name 'CLIPTokenizer'"
