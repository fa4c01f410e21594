"""模型管理: the registry, what is loaded now, the memory budget; download / load / unload / delete."""
import datetime as dt

import gradio as gr
import pandas as pd

from studio import api
from studio.api.web import cluster_replicas, human_bytes, on_cluster, t

from .access import is_operator, require_operator
from .runner import Stops, run
from .ui import GPU, UI, Page, guarded, progress_callback, s


TASKS = ["", "image", "text", "speech", "music", "video", "embedding", "safety", "controlnet", "depth"]
stops = Stops("load")


def task_choices(lang: str) -> list[tuple[str, str]]:
    return list(zip(s("models.tasks", lang).split("|"), TASKS))


def task_name(task: str, lang: str) -> str:
    """A registry task ("image", "text"...) as the page names it in `lang` (the filter's own words)."""
    return dict(zip(TASKS, s("models.tasks", lang).split("|"))).get(task, task)


def registry_rows(lang: str, task: str | None = None) -> list[list]:
    yes, no = s("yes", lang), s("no", lang)
    on_replicas = {key for r in cluster_replicas() for key in r["loaded"]} if on_cluster() else set()
    return [[m["key"], task_name(m["task"], lang), m["title"], human_bytes(m["approx_bytes"]),
             m["modelscope_id"] or "—", m["hf_id"] or "—", m["licence"],
             yes if m["on_disk"] else no, yes if m["loaded"] or m["key"] in on_replicas else no]
            for m in api.list_models(task or None, lang=lang)]


def loaded_rows(status: dict, lang: str = "zh") -> list[list]:
    """The web process's loaded models, then (STUDIO_BACKEND=ray) each replica's, its device named with the
    replica and node."""
    held = [(row, "") for row in status["loaded"]]
    held += [(row, f" · {r['family']} {r['replica']} @ {r['node'][:8]}") for r in status.get("replicas", [])
             for row in r.get("models", [])]
    return [[row["title"], row["device"] + (s("models.parked", lang) if row["parked"] else "") + where,
             human_bytes(row["bytes"]), row["load_seconds"],
             dt.datetime.fromtimestamp(row["last_used"]).strftime("%H:%M:%S"), row["in_use"]]
            for row, where in held]


def budget_text(status: dict, lang: str) -> str:
    budgets = "; ".join(f"{kind}: {human_bytes(b['used'])} / {human_bytes(b['budget'])}"
                        for kind, b in status["budgets"].items())
    disk = human_bytes(sum(status["disk"].values()))
    hub = {"local": s("models.hub_local", lang), "modelscope": "ModelScope", "hf": "Hugging Face"}.get(status["hub"],
                                                                                                     status["hub"])
    return s("models.budget", lang, device=status["device"], budgets=budgets, disk=disk, hub=hub)


def _headers(key: str, lang: str) -> list[str]:
    return s(key, lang).split("|")


def _table(rows: list[list], headers_key: str, lang: str) -> pd.DataFrame:
    """A table whose column names follow the session's language (plain data for gradio_client too)."""
    return pd.DataFrame(rows, columns=_headers(headers_key, lang))


def _view(lang: str, message: str = ""):
    status = api.manager_status()
    if on_cluster():
        status["replicas"] = cluster_replicas()
    loaded = _table(loaded_rows(status, lang), "models.cols.loaded", lang)
    registry = _table(registry_rows(lang), "models.cols.registry", lang)
    if message:
        gr.Info(message)
    return registry, loaded, budget_text(status, lang), status


@guarded
def list_models(task, lang):
    return _table(registry_rows(lang, task), "models.cols.registry", lang)


@guarded
def manager_status(lang):
    return _view(lang)


def switch_view(lang, task=""):
    """The tables and the status line in the new language at once (the 3 s timer would redo them in the old one
    until its next tick, and the timer's registry is not filtered by task)."""
    registry, loaded, budget, _raw = _view(lang)
    return (_table(registry_rows(lang, task), "models.cols.registry", lang) if task else registry), loaded, budget


@guarded
async def load(key, lang, request: gr.Request = None, progress=gr.Progress()):
    """A Job like any model run: it holds the device, and a cancelled load does not keep the model."""
    require_operator(request, lang)
    job = stops.start(request, lang=lang, model=key)
    row, view = await run(job, lambda stop, on_progress: (
        api.load(key, progress=on_progress, stop=stop), _view(lang)), progress)
    gr.Info(t("loaded", lang, model=key, seconds=row["load_seconds"]))
    return view


@guarded
def unload(key, lang, request: gr.Request = None):
    require_operator(request, lang)
    message = t("unloaded", lang, model=key) if api.unload(key) else t("not_loaded", lang, model=key)
    return _view(lang, message)


@guarded
def unload_all(lang, request: gr.Request = None):
    require_operator(request, lang)
    return _view(lang, t("unloaded_all", lang, count=api.unload_all()))


@guarded
def download(key, lang, request: gr.Request = None, progress=gr.Progress()):
    require_operator(request, lang)
    path = api.download(key, progress=progress_callback(progress))
    return _view(lang, t("downloaded", lang, model=key, path=path))


@guarded
def delete(key, lang, request: gr.Request = None):
    require_operator(request, lang)
    path = api.delete(key)
    return _view(lang, t("deleted", lang, model=key, path=path))


def build(ui: UI, page: Page) -> None:
    lang, demo = page.lang, page.demo
    ui.md("models.intro")
    note = ui.md("models.learner_note", visible=False)
    status = api.manager_status()
    budget = gr.Markdown(budget_text(status, ui.lang))
    key = ui.add(gr.Dropdown, "models.pick", choices=[m["key"] for m in api.list_models()] + api.local_models(),
                 value="mini-shapes", allow_custom_value=True)
    with gr.Row(visible=False) as actions:  # the teacher's: shown to operators only, and checked on the server
        buttons = {name: ui.button(f"models.{name}", variant="primary" if name == "load" else "secondary")
                   for name in ("download", "load", "unload", "unload_all", "delete", "refresh")}
    loaded = ui.add(gr.Dataframe, "models.loaded",
                    value=_table(loaded_rows(status, ui.lang), "models.cols.loaded", ui.lang), interactive=False,
                    elem_id="studio-loaded-models")
    task = ui.add(gr.Radio, "models.task", choices=task_choices(ui.lang), value="")
    ui.on_lang(task, lambda lg: {"choices": task_choices(lg)})
    registry = ui.add(gr.Dataframe, "models.registry", value=_table(registry_rows(ui.lang), "models.cols.registry",
                                                                     ui.lang), interactive=False, wrap=True,
                      column_widths=["11%", "7%", "17%", "7%", "19%", "19%", "10%", "5%", "5%"])
    with gr.Accordion(s("models.raw", ui.lang), open=False) as raw_box:
        raw = gr.JSON(status, elem_classes="studio-free")  # the API's own data, as code reads it
    ui.on_lang(raw_box, lambda lg: {"label": s("models.raw", lg)})
    outputs = [registry, loaded, budget, raw]
    task.change(list_models, [task, lang], registry, api_name="list_models", concurrency_limit=None)
    ui.on_switch(switch_view, [task], [registry, loaded, budget])
    # Model loads and downloads share the GPU slot; status and unloads never wait behind a run.
    buttons["load"].click(load, [key, lang], outputs, api_name="load", concurrency_id=GPU)
    buttons["download"].click(download, [key, lang], outputs, api_name="download", concurrency_limit=2)
    buttons["unload"].click(unload, [key, lang], outputs, api_name="unload", concurrency_limit=None)
    buttons["unload_all"].click(unload_all, [lang], outputs, api_name="unload_all", concurrency_limit=None)
    buttons["delete"].click(delete, [key, lang], outputs, api_name="delete", concurrency_limit=None)
    buttons["refresh"].click(manager_status, [lang], outputs, api_name="manager_status", concurrency_limit=None)
    def role(request: gr.Request):
        teacher = is_operator(request)
        return gr.update(visible=teacher), gr.update(visible=teacher), gr.update(visible=not teacher)
    demo.load(role, None, [key, actions, note], api_visibility="private", queue=False)
    ui.status_refresh = {"fn": manager_status, "inputs": [lang], "outputs": outputs, "api_visibility": "private",
                         "concurrency_limit": None, "show_progress": "hidden"}
    ui.status_timer = gr.Timer(3.0, active=False)  # refresh_while_open starts and stops it
    ui.status_timer.tick(**ui.status_refresh)


TIMER_JS = "() => ({__type__: 'update', active: %s})"


def refresh_while_open(ui, tabs: dict[str, gr.Tab]) -> None:
    """The tables refresh on opening 模型管理 and every 3 s while it is open, not on every page all the time: each
    tick is a server call, and each event of a page makes it walk its loading-status table. The timer is started
    and stopped in the browser (a server event would itself join that table)."""
    tabs["models"].select(**ui.status_refresh)
    for name, tab in tabs.items():
        tab.select(None, None, ui.status_timer, js=TIMER_JS % str(name == "models").lower(),
                   api_visibility="private", queue=False, show_progress="hidden")
