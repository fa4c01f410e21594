"""LoRA 共享: the LoRAs this learner may use (built-in, shared, their own), and the operator's share / unshare.

A LoRA a learner trains is theirs (studio.core.files) until the operator shares it with the class here. Mounted in the
模型微调 tab (tabs.finetune.build); the share buttons answer learners with op.denied (tabs.access).
"""
from __future__ import annotations

import gradio as gr
import pandas as pd

from studio.api.web import available_loras, files

from .access import is_operator, require_operator
from .strings import STRINGS
from .ui import UI, s


STRINGS.update({
    "share.title": ("LoRA 列表与共享", "LoRAs and sharing"),
    "share.intro": ("你训练的 LoRA 只有你自己（和老师）能用；老师可以把它共享给全班。下面列出你能用的 LoRA。",
                    "A LoRA you train is yours alone (and the teacher's); the teacher may share it with the class. "
                    "Below: the LoRAs you may use."),
    "share.table": ("可用的 LoRA", "LoRAs you may use"),
    "share.cols": ("名称|类别|训练者", "name|kind|trained by"),
    "share.builtin": ("内置", "built in"),
    "share.shared": ("已共享", "shared"),
    "share.own": ("我的（未共享）", "mine (not shared)"),
    "share.private": ("学员的（未共享）", "a learner's (not shared)"),
    "share.refresh": ("刷新列表", "Refresh"),
    "share.name": ("LoRA 名称（老师）", "LoRA name (teacher)"),
    "share.box": ("共享给全班", "Shared with the class"),
    "share.apply": ("应用（老师）", "Apply (teacher)"),
    "share.done": ("已共享 LoRA “{name}”：全班都能在文生图里选它。",
                   "Shared the LoRA '{name}': everyone can pick it in Text to image."),
    "share.undone": ("已取消共享 LoRA “{name}”。", "The LoRA '{name}' is no longer shared."),
    "share.unknown": ("没有名为“{name}”的训练好的 LoRA。", "No trained LoRA is named '{name}'."),
})


def list_loras(lang: str = "zh", request: gr.Request = None) -> pd.DataFrame:
    """The LoRAs the one asking may use: name, kind and (for the operator) who trained it."""
    operator, me = is_operator(request), files.current()
    rows = []
    for name, weights in available_loras().items():
        info = files.lora_info(weights)
        owner = info["owner"]
        mine = owner is not None and (owner.user, owner.browser) == (me.user, me.browser)
        kind = "share.builtin" if info["builtin"] else "share.shared" if info["shared"] else \
            "share.own" if mine or not operator else "share.private"
        maker = (owner.user or (owner.browser or "")[:8]) if owner and operator else ""
        rows.append([name, s(kind, lang), maker])
    return pd.DataFrame(rows, columns=s("share.cols", lang).split("|"))


def share_lora(name: str, shared: bool = True, lang: str = "zh", request: gr.Request = None) -> str:
    """Operator only: share a trained LoRA with everyone (shared=False takes it back)."""
    require_operator(request, lang)
    name = (name or "").strip()
    if not files.share_lora(name, bool(shared)):
        raise gr.Error(s("share.unknown", lang, name=name), print_exception=False)
    return s("share.done" if shared else "share.undone", lang, name=name)


def build(ui: UI, lang: gr.State) -> None:
    with ui.on_lang(gr.Accordion(s("share.title", ui.lang), open=False), lambda lg: {"label": s("share.title", lg)}) \
            as panel:
        ui.md("share.intro")
        table = ui.add(gr.Dataframe, "share.table", interactive=False)
        refresh = ui.button("share.refresh", size="sm")
        with gr.Row(equal_height=True):
            name = ui.add(gr.Textbox, "share.name", max_lines=1, scale=3)
            shared = ui.add(gr.Checkbox, "share.box", value=True, scale=1)
            apply = ui.button("share.apply", size="sm", scale=1)
        result = gr.Markdown()
    refresh.click(list_loras, lang, table, api_name="list_loras", queue=False)  # first: it keeps the plain name
    panel.expand(list_loras, lang, table, api_visibility="private", queue=False)
    ui.on_switch(list_loras, [], [table])  # headers and kinds in the new language
    apply.click(share_lora, [name, shared, lang], result, api_name="share_lora", queue=False) \
        .success(list_loras, lang, table, api_visibility="private", queue=False)
