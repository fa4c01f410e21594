"""Tabs whose engine is not built yet: a plain statement instead of controls that would do nothing."""
import gradio as gr

from studio import api

from .ui import UI

TASKS = {"text": "text", "speech": "speech", "video": "video", "crossmodal": None, "finetune": None}


def build(ui: UI, name: str) -> None:
    ui.md(f"pending.{name}")
    task = TASKS[name]
    if task:
        rows = [[m["key"], m["title"], m["licence"]] for m in api.list_models(task, lang=ui.lang)]
        gr.Dataframe(rows, headers=["key", "title", "licence"], interactive=False)
