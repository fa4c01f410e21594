"""Gradio's own words in the page's language, whatever the browser's locale (issue 36 items 4 and 5).

Gradio's frontend translates its own texts (footer, upload areas, the image editor's tools) with svelte-i18n and
picks the locale from the browser, so a Chinese page in an en-US browser read "Use via API", "Drop Image Here" and
"Layer 1", and an English page in a zh-CN browser read Chinese. Three parts put them in the page's language:

- `LOCALE_JS` runs on page load and on the language switch (app.build_demo): it sets Gradio's locale with the
  `changeLocale` of Gradio's own i18n module (the one its footer's Settings panel uses) and keeps it there (a
  locale still loading, or Gradio's own re-initialisation, can land later); it puts the texts Gradio's components
  drew before the change (they do not redraw on a locale change) into the new locale from Gradio's own tables;
  and it gives the pop-ups' titles, which Gradio writes in English from the message type ("Error", "Info",
  "Error (2)" for two stacked messages, whatever title gr.Error / gr.Info were given), the page's words from
  tabs/strings.py.
- `i18n()`, given to launch(): Gradio's zh-CN table lacks the image editor and a few other keys, which then fell
  back to English ("Upload an image 或 select the draw tool to start"); these are the missing keys in Chinese.
- A file an upload area does not take (a .txt dropped on the img2img editor, which dropped it without a word, or on
  a file box, which said "Invalid file type: … Only image allowed." in English) is stopped in the page and reported
  by `refuse_upload` as the studio's message: one pop-up, in the page's language, naming the file and what the box
  takes.
"""
from __future__ import annotations

import json

import gradio as gr

from studio.api import StudioError

from .ui import guarded, s


LOCALES = {"zh": "zh-CN", "en": "en"}  # the page's language -> Gradio's locale code (gradio language_choices)
REFUSED_ID = "studio-refused-upload"  # elem_id of the hidden box the page writes a refused upload into

# Gradio 6.31's zh-CN table misses these keys (its English is the fallback); svelte-i18n finds a flat "a.b" key
# before a nested one, so these stay in force after Gradio's own zh-CN table loads.
ZH_CN = {
    "audio.recording_error": "无法从麦克风开始录音。",
    "chatbot.complete": "完成",
    "chatbot.copy_message": "复制消息",
    "chatbot.copied_message": "已复制消息",
    "chat_interface.new_chat": "新对话",
    "chat_interface.message_placeholder": "输入消息…",
    "chat_interface.additional_inputs": "更多输入",
    "chat_interface.chatbot": "聊天机器人",
    "chat_interface.conversation": "对话",
    "common.complete": "完成",  # a finished run, read out by screen readers (the raw key before)
    "common.download_all": "全部下载",
    "common.runs": "运行记录",
    "common.runs_description": "查看保存在本浏览器中的运行记录",
    "common.back_to_app": "应用",
    "common.back_to_app_description": "返回应用",
    "common.progress": "进度",
    "common.record": "录制",
    "common.stop_recording": "停止录制",
    "common.screen_studio": "屏幕录制",
    "common.share_gradio_tab": "[分享] Gradio 标签页",
    "common.run": "运行",
    "dataframe.import_empty_file": "拖入的文件是空的。",
    "dataframe.import_no_column_names": "拖入的文件没有列名。",
    "dataframe.import_ragged_row": "文件第 {line} 行有 {fields} 个字段，表头有 {columns} 个。",
    "dataframe.import_static_columns": "表格的列是只读的，不能导入。",
    "dataframe.import_fixed_columns": "这个表格正好需要 {expected} 列，文件有 {actual} 列。",
    "dataframe.import_fixed_rows": "这个表格正好需要 {expected} 行，文件有 {actual} 行。",
    "dataframe.filter": "筛选",
    "dataframe.clear_filter": "清除筛选",
    "image_editor.add_layer": "添加图层",
    "image_editor.brush": "画笔",
    "image_editor.brush_size": "画笔大小",
    "image_editor.clear_canvas": "清空画布",
    "image_editor.color": "颜色",
    "image_editor.confirm_crop": "确认裁剪",
    "image_editor.crop": "裁剪",
    "image_editor.erase": "橡皮擦",
    "image_editor.eraser_size": "橡皮擦大小",
    "image_editor.fit_to_screen": "适应屏幕",
    "image_editor.layer": "图层",
    "image_editor.layers": "图层",
    "image_editor.pan": "平移",
    "image_editor.paste": "粘贴",
    "image_editor.redo": "重做",
    "image_editor.resize": "调整大小",
    "image_editor.save_changes": "保存修改",
    "image_editor.select_draw_tool": "选择画笔工具开始",
    "image_editor.show_layers": "显示图层",
    "image_editor.upload": "上传",
    "image_editor.upload_image": "上传图片",
    "image_editor.webcam": "摄像头",
    "image_editor.zoom_in": "放大",
    "image_editor.zoom_out": "缩小",
    "status.queue_position": "排队中：第 {position} 位，共 {size} 位",
}


# Gradio's English table lacks it too (the page read "common.complete").
EN = {"common.complete": "Complete"}


def i18n() -> gr.I18n:
    """Gradio's launch(i18n=...): the keys Gradio's own zh-CN (and en) tables lack."""
    return gr.I18n(**{LOCALES["zh"]: ZH_CN, LOCALES["en"]: EN})


def toast_titles() -> dict:
    """{lang: {message type: pop-up title}} in the page's words."""
    return {lang: {kind: s(f"toast.{kind}" if kind != "error" else "error.title", lang)
                   for kind in ("error", "warning", "info", "success")} for lang in LOCALES}


# What an upload area takes (its accept attribute), in words.
KINDS = {"image/*": ("图片", "images"), "audio/*": ("音频", "audio"), "video/*": ("视频", "videos"),
         "text/*": ("文本文件", "text files")}


def allowed_text(accept: str, lang: str) -> str:
    words = []
    for token in (t.strip().lower() for t in str(accept).split(",")):
        if token in KINDS:
            word = KINDS[token][0 if lang == "zh" else 1]
        else:
            word = token
        if token and word not in words:
            words.append(word)
    return ("、" if lang == "zh" else ", ").join(words[:12]) or "?"


@guarded
def refuse_upload(refused: str, lang: str = "zh"):
    """The page stopped a file its upload area does not take: the studio's message for it."""
    try:
        data = json.loads(refused or "{}")
        names = [str(n)[:80] for n in data.get("files", [])][:5]
        accept = str(data.get("accept", ""))[:200]
    except (ValueError, AttributeError, TypeError):
        return
    if names:
        raise StudioError("upload_wrong_type", files=("、" if lang == "zh" else ", ").join(names),
                          allowed=allowed_text(accept, lang))


# Runs in the page with the switch's value ("zh" / "en"). Gradio's i18n module is the assets/core-*.js the page
# loaded; importing the same URL gives the same module, so its locale store is the page's. Installed once: an
# observer that titles the pop-ups, and capture listeners that stop a file an upload area's accept list refuses
# (the area then ends its drag highlight as after an empty drop) and write it into the hidden REFUSED_ID box.
LOCALE_JS = """
async (lang) => {
  const S = window.__studioLocale = window.__studioLocale || {};
  S.lang = lang;
  const core = [...performance.getEntriesByType('resource').map(e => e.name),
                ...[...document.querySelectorAll('script[src], link[href]')].map(e => e.src || e.href)]
    .find(n => /\\/assets\\/core-[\\w-]+\\.js$/.test(n));
  const gradio = core ? await import(core) : null;
  S.changeLocale = gradio ? gradio.changeLocale : () => {};
  // svelte-i18n writes the locale it settles on into <html lang>. A locale still loading lands after a later one
  // (a quick switch), and Gradio sets the browser's locale again once its custom translations arrive: whatever
  // lands that is not the page's language is set back. Once it is the page's, the texts Gradio's components drew
  // before (they translate when they draw, and do not redraw on a locale change) are put in that language too.
  S.settle = () => {
    if (document.documentElement.lang !== LOCALES[S.lang]) S.changeLocale(LOCALES[S.lang]);
    else S.redraw();
  };
  S.tables = S.tables || (async () => {  // {locale: {flat key: text}} of Gradio's tables and the studio's additions
    if (!gradio) return {};
    const flat = (o, p = '') => Object.entries(o || {}).flatMap(([k, v]) =>
      v && typeof v === 'object' ? flat(v, p + k + '.') : typeof v === 'string' ? [[p + k, v]] : []);
    const langs = gradio.process_langs(), out = {};
    for (const [lang, code] of Object.entries(LOCALES)) {
      const entry = langs[code];
      const data = !entry ? {} : entry.type === 'static' ? entry.data : (await entry.data()).default;
      out[code] = Object.fromEntries(flat(data));
    }
    Object.assign(out[LOCALES.zh], ADDED);
    return out;
  })();
  S.redraw = async () => {
    const want = LOCALES[S.lang], tables = await S.tables, map = new Map();
    for (const [code, table] of Object.entries(tables))
      if (code !== want)
        for (const [key, text] of Object.entries(table))
          if (!key.startsWith('_') && tables[want][key] && tables[want][key] !== text && !map.has(text))
            map.set(text, tables[want][key]);  // not "_name": a locale's own name ("English")
    const swap = (text) => {  // "Layer 1", "- or -": the words between numbers and dashes
      const m = /^([\\s\\-(\\d]*)([\\s\\S]*?)([\\s\\-()\\d.:…]*)$/.exec(text || '');
      const hit = m && m[2] && map.get(m[2]);
      return hit ? m[1] + hit + m[3] : null;
    };
    const mine = (el) => !el || el.closest('.prose, .studio-free, .studio-lang-names, textarea, script, style');
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node; (node = walker.nextNode());) {
      const text = !mine(node.parentElement) && swap(node.nodeValue);
      if (text && text !== node.nodeValue) node.nodeValue = text;
    }
    for (const el of document.querySelectorAll('[title], [aria-label], [placeholder]'))
      for (const name of ['title', 'aria-label', 'placeholder']) {
        const text = el.hasAttribute(name) && !mine(el) && swap(el.getAttribute(name));
        if (text && text !== el.getAttribute(name)) el.setAttribute(name, text);
      }
  };
  if (!S.watching) {
    S.watching = true;
    new MutationObserver(() => S.settle()).observe(document.documentElement, {attributeFilter: ['lang']});
  }
  S.settle();
  S.retitle = () => {
    for (const el of document.querySelectorAll('.toast-title')) {
      const kind = Object.keys(TITLES[S.lang]).find(k => el.classList.contains(k));
      const text = el.firstChild;
      if (kind && text && text.nodeType === 3 && text.nodeValue !== TITLES[S.lang][kind] + ' ')
        text.nodeValue = TITLES[S.lang][kind] + ' ';
    }
  };
  if (!S.installed) {
    S.installed = true;
    new MutationObserver(() => S.retitle()).observe(document.body, {childList: true, subtree: true});
    // Gradio's own test (a ".ext" or a "kind/*" of the accept list); a chosen file of no known type passes to the
    // server's check (`lenient`), as Gradio lets it.
    const takes = (file, accept, lenient) => {
      const tokens = accept.split(',').map(t => t.trim().toLowerCase()).filter(Boolean);
      const name = file.name.toLowerCase(), type = (file.type || '').toLowerCase();
      return !tokens.length || tokens.some(t => t === '*' || t === '*/*' || t === 'file/*' ||
        (t.startsWith('.') ? name.length > t.length && name.endsWith(t) :
         t.endsWith('/*') ? type.startsWith(t.slice(0, -1)) || (lenient && !type) : type === t));
    };
    const refuse = (files, accept) => {
      const box = document.querySelector('#REFUSED_ID textarea, #REFUSED_ID input');
      if (!box) return;
      box.value = JSON.stringify({files: files.map(f => f.name), accept, at: Date.now()});
      box.dispatchEvent(new Event('input', {bubbles: true}));
    };
    document.addEventListener('drop', (e) => {
      let zone = e.target instanceof Element ? e.target : null, input = null;
      for (; zone && zone !== document.body; zone = zone.parentElement)
        if ((input = zone.querySelector(':scope > input[type=file]'))) break;
      const files = [...(e.dataTransfer?.files || [])];
      if (!input || !input.accept || !files.length) return;
      const refused = files.filter(f => !takes(f, input.accept));
      if (!refused.length) return;
      e.preventDefault();
      e.stopPropagation();
      zone.dispatchEvent(new DragEvent('drop', {dataTransfer: new DataTransfer(), bubbles: true, cancelable: true}));
      refuse(refused, input.accept);
    }, true);
    document.addEventListener('change', (e) => {
      const input = e.target;
      if (!(input instanceof HTMLInputElement) || input.type !== 'file' || !input.accept) return;
      const refused = [...(input.files || [])].filter(f => !takes(f, input.accept, true));
      if (!refused.length) return;
      e.stopPropagation();
      input.value = '';
      refuse(refused, input.accept);
    }, true);
  }
  S.retitle();
  return [];
}
"""


def locale_js() -> str:
    """LOCALE_JS with its tables filled in."""
    titles = json.dumps(toast_titles(), ensure_ascii=False)
    return LOCALE_JS.replace("LOCALES", json.dumps(LOCALES)).replace("TITLES", titles).replace(
        "REFUSED_ID", REFUSED_ID).replace("ADDED", json.dumps(ZH_CN, ensure_ascii=False))


def install(demo: gr.Blocks, switch, lang) -> None:
    """Call inside `with demo:` at the top level: the locale on load and on each switch, and the refused-upload box."""
    js = locale_js()
    demo.load(None, switch, None, js=js, api_visibility="private", queue=False)
    switch.change(None, switch, None, js=js, api_visibility="private", queue=False)
    box = gr.Textbox(visible="hidden", elem_id=REFUSED_ID, show_label=False, container=False)
    # .change: the page writes the box (each time a new value, with a time stamp); Gradio's .input needs key presses.
    # Queued: an error of an unqueued event shows no pop-up.
    box.change(refuse_upload, [box, lang], None, api_visibility="private", concurrency_limit=None,
               show_progress="hidden")
