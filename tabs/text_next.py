"""文本生成 · 下一个词: the next-token distribution (live with the knobs) and stepping through generation.

The walk keeps token ids (never re-tokenised text); each step's bars come from the model's real logits
after the same processors generate() uses.
"""
import random

import gradio as gr
import pandas as pd

from studio import api

from .refusals import Refused
from .ui import GPU, UI, guarded, plot_in, s


TOP_N = 15


def _shown(token: str) -> str:
    """Whitespace tokens made visible on a chart axis."""
    return token.replace("\n", "↵").replace(" ", "␣") or "∅"


def _views(rows: list[dict], lang: str):
    """(chart update, table, token ids in table order) from api.token_distribution rows."""
    kept, cut = s("text.kept", lang), s("text.cut", lang)
    labels = [f"{r['rank']:02d}. {_shown(r['token'])}" for r in rows]  # zero-padded: sort="x" keeps rank order
    chart = pd.DataFrame({"token": labels, "p": [r["p_temperature"] for r in rows],
                          "status": [kept if r["kept"] else cut for r in rows]})
    table = pd.DataFrame([[label, f"{r['p_raw']:.4f}", f"{r['p_temperature']:.4f}", f"{r['cumulative']:.4f}",
                           kept if r["kept"] else cut, f"{r['p_final']:.4f}"] for label, r in zip(labels, rows)],
                         columns=s("text.cols", lang).split("|"))
    return chart, table, [r["token_id"] for r in rows]


def _axis_titles(lang: str) -> dict:
    token, _raw, after_t, _cumulative, status, _final = s("text.cols", lang).split("|")
    return {"x_title": token, "y_title": after_t, "color_title": status}


def _statuses(lang: str) -> list[str]:
    return [s("text.kept", lang), s("text.cut", lang)]


def switch_views(lang: str, chart, table):
    """The bars' legend and the table (headers, status column) as drawn, in the new language."""
    cols = s("text.cols", lang).split("|")
    if table is None or len(getattr(table, "columns", [])) != len(cols):  # nothing shown yet
        shown = gr.skip()
    else:
        shown = plot_in(lang, {"columns": cols, "data": table.values.tolist()}, cols[4], _statuses)
    return plot_in(lang, chart, "status", _statuses), shown


@guarded
def token_distribution(prompt, model, temperature, top_k, top_p, repetition_penalty, walk=None, lang="zh"):
    rows = api.token_distribution(prompt, model, temperature, top_k, top_p, TOP_N,
                                  repetition_penalty=repetition_penalty, continuation=walk or [], lang=lang)
    return _views(rows, lang)


def live_distribution(prompt, model, temperature, top_k, top_p, repetition_penalty, walk=None, lang="zh"):
    """The redraw a knob move makes: for a model not downloaded yet nothing (the tab said so once when it was
    picked), rather than one error per move; the 查看 button still answers with the reason. A number being typed
    that the studio refuses (5, or a lone "-") keeps the last bars: leaving the box names it (`check_knobs`)."""
    if api.needs_download(model) or any(isinstance(k, Refused) for k in (temperature, top_k, top_p,
                                                                           repetition_penalty)):
        return gr.skip(), gr.skip(), gr.skip()
    return token_distribution(prompt, model, temperature, top_k, top_p, repetition_penalty, walk, lang)


@guarded
def check_knobs(temperature, top_k, top_p, repetition_penalty, lang="zh"):
    """Leaving a knob's box: a number the bars were not redrawn at gets its message (ui.guarded resolves it)."""


def _walk_views(prompt, model, walk):
    """The sentence so far: its text, and its tokens numbered by step."""
    decoded = api.decode_tokens(walk, model) if walk else {"text": "", "tokens": []}
    chips = [(prompt, None)] + [(_shown(p), str(i + 1)) for i, p in enumerate(decoded["tokens"])]
    return decoded["text"], chips


@guarded
def step(prompt, model, temperature, top_k, top_p, repetition_penalty, walk, walk_seed, lang="zh"):
    """Sample one token with the current knobs; the step seed is fixed once (shown back) so a re-walk repeats."""
    seed = int(walk_seed) if walk_seed is not None and int(walk_seed) >= 0 else random.randint(0, 2**32 - 1)
    result = api.next_token(prompt, model, walk or [], temperature, top_k, top_p, repetition_penalty, seed, lang=lang)
    return _after_step(prompt, model, temperature, top_k, top_p, repetition_penalty, result["ids"], lang) + (seed,)


@guarded
def choose(prompt, model, temperature, top_k, top_p, repetition_penalty, walk, row_ids, lang="zh",
           evt: gr.SelectData = None):
    """A click on a row of the table: that token, whatever sampling would have drawn."""
    row = evt.index[0] if evt is not None and isinstance(evt.index, (list, tuple)) else None
    if row is None or not row_ids or row >= len(row_ids):
        return (gr.update(),) * 6
    return _after_step(prompt, model, temperature, top_k, top_p, repetition_penalty, [*(walk or []), row_ids[row]],
                       lang)


@guarded
def undo(prompt, model, temperature, top_k, top_p, repetition_penalty, walk, lang="zh"):
    return _after_step(prompt, model, temperature, top_k, top_p, repetition_penalty, (walk or [])[:-1], lang)


def _after_step(prompt, model, temperature, top_k, top_p, repetition_penalty, walk, lang):
    """(walk, text, chips, chart, table, row ids) after the walk changed."""
    text, chips = _walk_views(prompt, model, walk)
    chart, table, ids = token_distribution.__wrapped__(prompt, model, temperature, top_k, top_p, repetition_penalty,
                                                       walk, lang)
    return walk, prompt + text, chips, chart, table, ids


def build(ui: UI, lang: gr.State, prompt, model, knobs: list) -> None:
    """The 下一个词 accordion (inside the text tab's right column)."""
    walk, row_ids = gr.State([]), gr.State([])
    with ui.on_lang(gr.Accordion(s("text.next", ui.lang), open=True), lambda lg: {"label": s("text.next", lg)}):
        ui.md("text.formula")
        # Sort and angle are fixed here: an update that also sets props makes Gradio's chart draw the previous data.
        chart = ui.add(gr.BarPlot, "text.chart", x="token", y="p", color="status", height=280, sort="x",
                       x_label_angle=-40, **_axis_titles(ui.lang),
                       color_map={s("text.kept", lg): "#f97316" for lg in ("zh", "en")}
                       | {s("text.cut", lg): "#cbd5e1" for lg in ("zh", "en")}, y_lim=[0, None],
                       elem_classes="studio-free")  # the tokens are the model's words (tabs/glossary.py)
        ui.on_lang(chart, _axis_titles)
        table = ui.add(gr.Dataframe, "text.table", interactive=False, wrap=True, elem_classes="studio-free")
        ui.on_switch(switch_views, [chart, table], [chart, table])
        show = ui.button("text.show_next")
        ui.md("text.step_intro")
        walk_text = ui.add(gr.Textbox, "text.walk", lines=2, interactive=False)
        chips = ui.add(gr.HighlightedText, "text.walk_tokens", combine_adjacent=False, show_legend=False,
                       elem_classes="studio-free")
        with gr.Row():
            step_go = ui.button("text.step", variant="primary")
            undo_go = ui.button("text.undo")
            reset_go = ui.button("text.reset")
        walk_seed = ui.add(gr.Number, "text.walk_seed", value=-1, precision=0)
    dist_inputs = [prompt, model, *knobs, walk, lang]
    views = [chart, table, row_ids]
    stepped = [walk, walk_text, chips, chart, table, row_ids]
    show.click(token_distribution, dist_inputs, views, api_name="token_distribution", concurrency_id=GPU)
    # Dragging a knob redraws the bars at once: a teacher shows the distribution flattening and sharpening.
    for knob in knobs:
        knob.change(live_distribution, dist_inputs, views, api_visibility="private", concurrency_id=GPU,
                    show_progress="hidden", trigger_mode="always_last")
        knob.release(check_knobs, [*knobs, lang], None, api_visibility="private", concurrency_limit=None,
                     show_progress="hidden")  # queued: an unqueued event's error shows no pop-up
    step_go.click(step, [prompt, model, *knobs, walk, walk_seed, lang], [*stepped, walk_seed],
                  api_visibility="private", concurrency_id=GPU)
    table.select(choose, [prompt, model, *knobs, walk, row_ids, lang], stepped, api_visibility="private",
                 concurrency_id=GPU)
    undo_go.click(undo, [prompt, model, *knobs, walk, lang], stepped, api_visibility="private", concurrency_id=GPU)
    # A new prompt or model starts a new sentence: the old ids belong to the old one.
    for trigger in (reset_go.click, prompt.change, model.change):
        trigger(lambda: ([], "", None), None, [walk, walk_text, chips], api_visibility="private", queue=False)
