"""The operator view: the class's line in the scheduler (who waits, for what, how long), the jobs on the device,
a way to stop any job and to pause the class's queue. Shown only to operators (tabs.access: who they are); every
handler checks again on the server."""
import gradio as gr
import pandas as pd

from studio.api.web import cluster_replicas, job_scheduler, on_cluster, pause_cluster

from .access import is_operator
from .runner import JOBS, QUICK_TABS
from .strings import STRINGS
from .ui import UI, s


def _check(lang: str, request: gr.Request) -> None:
    if not is_operator(request):
        raise gr.Error(s("op.denied", lang))


PART_OF = {"grid": "image", "explain": "image", "experiment": "image", "load": "models"}  # runs that live in a tab


def _tab(what: str, lang: str) -> str:
    """The tab a job came from, in the page's words ("文生图 · X/Y 网格"); a quick model event (the next-token bars,
    实时) by its tab alone."""
    tab = PART_OF.get(what) or QUICK_TABS.get(what) or what
    if f"tab.{tab}" not in STRINGS:
        return what
    return s(f"tab.{tab}", lang) + (" · " + s(f"op.part.{what}", lang) if what in PART_OF else "")


def _rows(lang: str) -> tuple[list[list], list[list]]:
    """(jobs that have started: on the device or between turns, jobs waiting for their first turn)."""
    running, waiting = [], []
    for row in job_scheduler().snapshot():  # in the order of their turns
        who = row["learner"] + (" ★" if row["operator"] else "")
        model = (row["model"] or "—") + (f" @ {row['worker']}" if row["worker"] else "")  # the replica running it
        if row["state"] == "waiting":
            waiting.append([row["id"], len(waiting) + 1, _tab(row["what"], lang), who, model,
                            row["size"] or "—", round(row["waited"], 1), round(row["expected"], 1)])
        else:
            running.append([row["id"], _tab(row["what"], lang), who, model, row["size"] or "—",
                            s(f"op.state.{row['state']}", lang), round(row["waited"], 1), round(row["expected"], 1)])
    return running, waiting


def snapshot(demo, lang: str, request: gr.Request):
    _check(lang, request)
    running, waiting = _rows(lang)
    state = s("op.paused" if job_scheduler().paused else "op.open", lang)
    return (s("op.summary", lang, waiting=len(waiting), running=len(running), state=state),
            pd.DataFrame(running, columns=s("op.running_cols", lang).split("|")),
            pd.DataFrame(waiting, columns=s("op.waiting_cols", lang).split("|")))


def workers(lang: str, request: gr.Request):
    """The cluster's replicas (STUDIO_BACKEND=ray): where the model work runs, what each holds, how busy it is."""
    _check(lang, request)
    rows = [[r["node"][:8], r["replica"], r["family"], r["device"], ", ".join(r["loaded"]) or "—", r["busy"],
             r["waiting"], r["done"]] for r in (cluster_replicas() if on_cluster() else [])]
    return pd.DataFrame(rows, columns=s("op.workers_cols", lang).split("|"))


def cancel(job, lang: str, request: gr.Request):
    """Stop a job, waiting or running: a waiting one leaves the line at once, a running one after its step."""
    _check(lang, request)
    job = int(job or 0)
    return s("op.cancelled" if JOBS.cancel(job) else "op.no_job", lang, job=job)


def pause(lang: str, request: gr.Request):
    """No learner's job starts until resume (started ones finish; the operator's own jobs still run)."""
    _check(lang, request)
    job_scheduler().pause()
    _pause_cluster(True)
    return s("op.paused_now", lang)


def resume(lang: str, request: gr.Request):
    _check(lang, request)
    job_scheduler().resume()
    _pause_cluster(False)
    return s("op.resumed", lang)


def _pause_cluster(paused: bool) -> None:
    """With the Ray backend the class's jobs wait in the replicas' lines: the pause reaches them too."""
    if on_cluster():
        pause_cluster(paused)


def build(ui: UI, lang: gr.State, demo: gr.Blocks) -> None:
    with ui.on_lang(gr.Accordion(s("op.title", ui.lang), open=False, visible=False),
                    lambda lg: {"label": s("op.title", lg)}) as panel:
        summary = gr.Markdown()
        # studio-free: the cells are data (a learner's login and browser id, model keys, replica names), the
        # headers are the page's words
        running = ui.add(gr.Dataframe, "op.running", interactive=False, elem_classes="studio-free")
        waiting = ui.add(gr.Dataframe, "op.waiting", interactive=False, elem_classes="studio-free")
        nodes = ui.add(gr.Dataframe, "op.workers", interactive=False, visible=on_cluster(), elem_classes="studio-free")
        with gr.Row():
            job = ui.add(gr.Number, "op.job", precision=0, minimum=0)
            stop = ui.button("op.cancel", variant="stop")
            hold = ui.button("op.pause")
            go_on = ui.button("op.resume")
            refresh = ui.button("op.refresh")
        result = gr.Markdown()

    def show(request: gr.Request):  # the panel, and its refresh every 2 s (the line moves), for operators only
        return gr.update(visible=is_operator(request)), gr.Timer(active=is_operator(request))

    def look_now(lg: str, request: gr.Request):
        return snapshot(demo, lg, request)

    def look_on_switch(lg: str, request: gr.Request):  # a learner's switch asks nothing of the operator view
        return snapshot(demo, lg, request) if is_operator(request) else (gr.skip(),) * 3

    timer = gr.Timer(2.0, active=False)
    demo.load(show, None, [panel, timer], api_visibility="private", queue=False)
    ui.on_switch(look_on_switch, [], [summary, running, waiting])
    look = dict(fn=look_now, inputs=lang, outputs=[summary, running, waiting], api_visibility="private", queue=False)
    refresh.click(**look)
    timer.tick(**{**look, "fn": look_on_switch})
    if on_cluster():  # the replicas' reports, with the queue's refresh
        def nodes_now(lg: str, request: gr.Request):
            return workers(lg, request) if is_operator(request) else gr.skip()
        timer.tick(nodes_now, lang, nodes, api_visibility="private", queue=False)
        refresh.click(nodes_now, lang, nodes, api_visibility="private", queue=False)
    stop.click(cancel, [job, lang], result, api_visibility="private", queue=False).then(**look)
    hold.click(pause, lang, result, api_visibility="private", queue=False).then(**look)
    go_on.click(resume, lang, result, api_visibility="private", queue=False).then(**look)
