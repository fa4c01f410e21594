"""The project's page: articles and their pictures composed into one styled HTML file (the course's template:
title, image, paragraphs, footer naming the models and parameters), previewed inline and zipped with its images.
"""
from __future__ import annotations

import base64
import html
import io
import json
import zipfile

from studio.crossmodal.story import PagePart


STYLE = """
body { margin: 0; background: #f4f1ea; color: #2b2b2b; font-family: "Noto Serif CJK SC", "Songti SC", Georgia, serif; }
.page { max-width: 760px; margin: 0 auto; padding: 32px 24px 48px; background: #fffdf8; min-height: 100vh; }
.title-container { text-align: center; border-bottom: 2px solid #d8c9a8; margin-bottom: 24px; }
h1 { font-size: 2.1em; margin: 0.3em 0; color: #3a2f1e; }
h2 { font-size: 1.35em; color: #6b5a3a; margin: 1.6em 0 0.6em; }
nav { text-align: center; margin-bottom: 16px; } nav a { margin: 0 10px; color: #8a6d3b; }
.image-container { display: flex; flex-wrap: wrap; gap: 12px; justify-content: center; margin: 16px 0; }
figure { margin: 0; text-align: center; } figure img { width: 320px; max-width: 100%; border-radius: 10px;
  image-rendering: auto; box-shadow: 0 4px 14px rgba(0,0,0,0.18); }
figcaption { font-size: 0.8em; color: #7a7a7a; max-width: 320px; margin-top: 6px; }
.content p { font-size: 1.1em; line-height: 1.9; text-indent: 2em; margin: 0.8em 0; }
.footer { margin-top: 40px; padding-top: 12px; border-top: 1px solid #e0d6c0; font-size: 0.85em; color: #777; }
.footer li { margin: 4px 0; } .ai-label { color: #a33; font-weight: bold; }
"""


def image_name(part: int, index: int) -> str:
    return f"images/part{part + 1}-{index + 1}.png"


def render(title: str, parts: list[PagePart], footer: list[str], label: str, *, inline: bool = False,
           lang: str = "zh") -> str:
    """The page's HTML. inline=True embeds the pictures as data URIs (the in-app preview); otherwise it links
    images/partN-M.png beside it (the zip)."""
    body = [f'<div class="title-container"><h1>{html.escape(title)}</h1></div>']
    if len(parts) > 1:
        body.append("<nav>" + "".join(f'<a href="#part{i + 1}">{html.escape(p.article.title)}</a>'
                                      for i, p in enumerate(parts)) + "</nav>")
    for i, part in enumerate(parts):
        body.append(f'<section id="part{i + 1}">')
        if len(parts) > 1 or part.article.title != title:
            body.append(f"<h2>{html.escape(part.article.title)}</h2>")
        figures = "".join(
            f'<figure><img src="{_data_uri(image) if inline else image_name(i, j)}" '
            f'alt="{html.escape(caption)}"><figcaption>{html.escape(caption)}</figcaption></figure>'
            for j, (image, caption) in enumerate(zip(part.images, part.captions)))
        if figures:
            body.append(f'<div class="image-container">{figures}</div>')
        body.append('<div class="content">' + "".join(f"<p>{html.escape(p)}</p>" for p in part.article.paragraphs)
                    + "</div></section>")
    notes = "".join(f"<li>{html.escape(line)}</li>" for line in footer)
    body.append(f'<div class="footer"><p class="ai-label">{html.escape(label)}</p><ul>{notes}</ul></div>')
    return (f'<!DOCTYPE html>\n<html lang="{"zh-CN" if lang == "zh" else "en"}">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            f'<div class="page">\n{"".join(body)}\n</div>\n</body>\n</html>\n')


def _data_uri(image) -> str:
    return "data:image/png;base64," + base64.b64encode(_png(image)).decode("ascii")


def _png(image, content_id: str = "preview") -> bytes:
    """PNG bytes keeping the picture's generation parameters, with the implicit AIGC label."""
    from studio.core.outputs import png_meta
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=png_meta(image.info.get("parameters"), content_id))
    return buffer.getvalue()


def write_zip(f, page_html: str, parts: list[PagePart], params: dict, folder: str = "story") -> None:
    """story/index.html + story/images/*.png + story/article.txt + story/parameters.json into the file `f`."""
    with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{folder}/index.html", page_html)
        for i, part in enumerate(parts):
            for j, image in enumerate(part.images):
                z.writestr(f"{folder}/{image_name(i, j)}", _png(image, image_name(i, j)))
        z.writestr(f"{folder}/article.txt", "\n\n\n".join(p.article.text for p in parts) + "\n")
        z.writestr(f"{folder}/parameters.json", json.dumps(params, ensure_ascii=False, indent=2))  # label inside


def iframe(page_html: str, height: int = 720) -> str:
    """The page inside an iframe (its own styles stay inside), for an HTML component."""
    return (f'<iframe title="preview" srcdoc="{html.escape(page_html, quote=True)}" '
            f'style="width:100%;height:{height}px;border:1px solid #ddd;border-radius:8px;background:#fff"></iframe>')
