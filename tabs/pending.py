"""Tabs whose engine is not built yet: a plain statement instead of controls that would do nothing."""
import gradio as gr
import pandas as pd

from studio import api

from .ui import UI, s

TASKS = {"crossmodal": None}


def build(ui: UI, name: str) -> None:
    ui.md(f"pending.{name}")
    task = TASKS[name]
    if task:
        def table(lang: str) -> pd.DataFrame:
            rows = [[m["key"], m["title"], m["licence"]] for m in api.list_models(task, lang=lang)]
            return pd.DataFrame(rows, columns=s("pending.cols", lang).split("|"))
        models = ui.add(gr.Dataframe, "pending.models", value=table(ui.lang), interactive=False)
        ui.on_lang(models, lambda lang: {"value": table(lang)})
