"""The public surface users call: `studio.api` (names, signatures, constants) and the app's Gradio endpoints
(api_name, parameter names and defaults, components). Recorded in tests/data/api_surface.json before a move of
the code; tests/test_api_surface.py checks that the surface is still the recorded one.

    python -m tests.api_surface      # record (only when the public API is meant to change)
"""
from __future__ import annotations

import inspect
import json
from pathlib import Path


RECORD = Path(__file__).parent / "data" / "api_surface.json"


def python_surface() -> dict:
    """{name: signature or value} for every name in studio.api.__all__."""
    from studio import api
    out = {}
    for name in sorted(api.__all__):
        value = getattr(api, name)
        if inspect.isclass(value) or callable(value):
            out[name] = str(inspect.signature(value))
        else:
            out[name] = repr(value)
    return out


def gradio_surface() -> dict:
    """{api_name: {"parameters": [[name, component, has default, default]], "returns": [component]}} of the app's
    named endpoints (those a gradio_client user calls)."""
    import app
    from studio.core import config
    config.configure([], env={"STUDIO_HUB": "local"})
    try:
        info = app.build_demo().get_api_info()
    finally:
        config.configure([], env={})
    return {name: {"parameters": [[p["parameter_name"], p["component"], p["parameter_has_default"],
                                   _steady(p.get("parameter_default"))] for p in endpoint["parameters"]],
                   "returns": [r["component"] for r in endpoint["returns"]]}
            for name, endpoint in sorted(info["named_endpoints"].items())}


def _steady(value):
    """A default as recorded: a file (an image default) by its name, not its temp folder's path."""
    if isinstance(value, dict):
        if "path" in value and "meta" in value:
            return {"file": str(value["path"]).rsplit("/", 1)[-1]}
        return {k: _steady(v) for k, v in value.items()}
    return value


def surface() -> dict:
    return {"python": python_surface(), "gradio": gradio_surface()}


if __name__ == "__main__":
    RECORD.write_text(json.dumps(surface(), ensure_ascii=False, indent=1, default=repr) + "\n", encoding="utf-8")
    print(f"recorded {RECORD}")
