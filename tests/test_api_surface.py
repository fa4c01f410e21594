"""What Python and gradio_client users call stays as recorded (tests/api_surface.py): a regrouping of the code
inside studio/ must not rename, drop or re-sign a public function or a Gradio endpoint."""
from __future__ import annotations

import json

from tests import api_surface


def _recorded() -> dict:
    return json.loads(api_surface.RECORD.read_text(encoding="utf-8"))


def test_python_api_is_the_recorded_one():
    assert api_surface.python_surface() == _recorded()["python"]


def test_gradio_endpoints_are_the_recorded_ones():
    now = json.loads(json.dumps(api_surface.gradio_surface(), default=repr))
    assert now == _recorded()["gradio"]
