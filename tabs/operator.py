"""The operator view: what waits in the queue, which jobs run, and a way to stop one. Shown only to operators
(tabs.access: who they are); every handler checks again on the server."""
import time

import gradio as gr
import pandas as pd

from .access import is_operator
from .runner import JOBS
from .ui import UI, s


def _waiting(demo) -> list[list]:
    """Events waiting in Gradio's queue (read from its per-slot queues; empty if that internal shape changes)."""
    queues = getattr(getattr(demo, "_queue", None), "event_queue_per_concurrency_id", {}) or {}
    now, rows = time.monotonic(), []
    for slot in queues.values():
        for position, event in enumerate(list(getattr(slot, "queue", [])), 1):
            rows.append([event._id[:8], position, getattr(event.fn, "api_name", None) or getattr(event.fn, "name", "?"),
                         event.username or "—", event.session_hash[:8], round(now - event.enqueue_time, 1)])
    return rows


async def drop(demo, event_id, lang: str, request: gr.Request) -> str:
    """Take a waiting request out of the queue; its browser gets a message instead of a result."""
    if not is_operator(request):
        raise gr.Error(s("op.denied", lang))
    from gradio.server_messages import ProcessCompletedMessage
    from gradio.utils import error_payload
    prefix = (event_id or "").strip()
    queue = getattr(demo, "_queue", None)
    slots = getattr(queue, "event_queue_per_concurrency_id", {}) or {}
    found = [e for slot in slots.values() for e in list(slot.queue) if prefix and e._id.startswith(prefix)]
    if len(found) != 1:
        return s("op.no_event", lang, event=prefix)
    event = found[0]
    await queue.remove_from_queue(event._id)
    content = error_payload(gr.Error(s("op.dropped_you", "zh") + " / " + s("op.dropped_you", "en")), True)
    queue.send_message(event, ProcessCompletedMessage(output=content, title=content.get("title", "Error"),
                                                      success=False))
    return s("op.dropped", lang, event=prefix)


def snapshot(demo, lang: str, request: gr.Request):
    if not is_operator(request):
        raise gr.Error(s("op.denied", lang))
    now = time.time()
    running = [[j.id, j.what, j.user or "—", j.session[:8], round(now - j.started, 1)] for j in JOBS.running()]
    waiting = _waiting(demo)
    return (s("op.summary", lang, waiting=len(waiting), running=len(running)),
            pd.DataFrame(running, columns=s("op.running_cols", lang).split("|")),
            pd.DataFrame(waiting, columns=s("op.waiting_cols", lang).split("|")))


def cancel(job, lang: str, request: gr.Request):
    if not is_operator(request):
        raise gr.Error(s("op.denied", lang))
    job = int(job or 0)
    return s("op.cancelled" if JOBS.cancel(job) else "op.no_job", lang, job=job)


def build(ui: UI, lang: gr.State, demo: gr.Blocks) -> None:
    with ui.on_lang(gr.Accordion(s("op.title", ui.lang), open=False, visible=False),
                    lambda lg: {"label": s("op.title", lg)}) as panel:
        summary = gr.Markdown()
        running = ui.add(gr.Dataframe, "op.running", interactive=False)
        waiting = ui.add(gr.Dataframe, "op.waiting", interactive=False)
        with gr.Row():
            job = ui.add(gr.Number, "op.job", precision=0, minimum=0)
            stop = ui.button("op.cancel", variant="stop")
            event = ui.add(gr.Textbox, "op.event", max_lines=1)
            remove = ui.button("op.drop", variant="stop")
            refresh = ui.button("op.refresh")
        result = gr.Markdown()
    def show(request: gr.Request):
        return gr.update(visible=is_operator(request))

    def look_now(lg: str, request: gr.Request):
        return snapshot(demo, lg, request)

    async def drop_now(event_id, lg: str, request: gr.Request):
        return await drop(demo, event_id, lg, request)

    def look_on_switch(lg: str, request: gr.Request):  # a learner's switch asks nothing of the operator view
        return snapshot(demo, lg, request) if is_operator(request) else (gr.skip(),) * 3

    demo.load(show, None, panel, api_visibility="private", queue=False)
    ui.on_switch(look_on_switch, [], [summary, running, waiting])
    look = dict(fn=look_now, inputs=lang, outputs=[summary, running, waiting], api_visibility="private", queue=False)
    refresh.click(**look)
    stop.click(cancel, [job, lang], result, api_visibility="private", queue=False).then(**look)
    remove.click(drop_now, [event, lang], result, api_visibility="private", queue=False).then(**look)
