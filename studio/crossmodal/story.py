"""跨模态创作's text side without a model: the project's fields, the Feynman article built from them by the
template's own structure, image prompts per image-model family, and storyboards (shot tables) from an article's
sentences by rules, or parsed from what a real text model wrote.

Everything here is data in, data out; the models are called by studio.crossmodal.api.
"""
from __future__ import annotations

import functools
import json
import re
from dataclasses import asdict, dataclass, field

from studio.core.registry import ASSETS
from studio.image import shapes


MIN_SHOTS, MAX_SHOTS = 2, 8


@functools.lru_cache(maxsize=1)
def library() -> dict:
    return json.loads((ASSETS / "prompts" / "crossmodal.json").read_text(encoding="utf-8"))


def _pick(value: dict | str, lang: str) -> str:
    return value[lang] if isinstance(value, dict) else value


# -- the article -----------------------------------------------------------------------------------
@dataclass
class Article:
    title: str
    paragraphs: list[str]

    @property
    def text(self) -> str:
        return "\n\n".join([self.title, *self.paragraphs])


def article_fields(lang: str) -> list[dict]:
    """[{name, label, lines, default}] of the Feynman project's form, in `lang`."""
    return [{"name": f["name"], "label": _pick(f["label"], lang), "lines": f["lines"],
             "default": _pick(f["default"], lang)} for f in library()["article"]["fields"]]


def with_defaults(values: dict | None, lang: str) -> dict[str, str]:
    """The form's values, empty ones filled with the project's defaults."""
    values = values or {}
    return {f["name"]: (str(values.get(f["name"]) or "").strip() or f["default"]) for f in article_fields(lang)}


def article_prompt(values: dict, lang: str) -> str:
    """The Feynman prompt a text model gets (the course's topology prompt, with the learner's fields)."""
    return _pick(library()["article"]["prompt"], lang).format(**with_defaults(values, lang))


def rule_article(values: dict, lang: str) -> Article:
    """The article assembled from the fields in the template's order: question, analogy, key idea, steps, ending.
    It says only what the learner wrote: a frame to read, not a model's prose."""
    v = with_defaults(values, lang)
    rules = library()["article"]["rules"]
    say = lambda key, **kw: _pick(rules[key], lang).format(**kw)  # noqa: E731
    steps = [line.strip() for line in v["steps"].splitlines() if line.strip()]
    step_text = (" " if lang == "en" else "").join(say("step", n=i, text=s) for i, s in enumerate(steps, 1))
    paragraphs = [say("opening", question=_sentence(v["question"], lang), audience=v["audience"]),
                  say("analogy", analogy=v["analogy"].rstrip("。.")), v["key_idea"],
                  say("steps") + (" " if lang == "en" else "") + step_text, v["summary"]]
    return Article(_title(v, lang), [p for p in paragraphs if p.strip()])


def _title(v: dict, lang: str) -> str:
    return f"{v['topic']}：{v['question']}" if lang == "zh" else f"{v['topic'].capitalize()}: {v['question']}"


def _sentence(text: str, lang: str) -> str:
    """A question or sentence with closing punctuation, so the next sentence can follow it."""
    text = text.strip()
    return text if text[-1:] in "。！？.!?" else text + ("？" if lang == "zh" else "?")


def parse_article(text: str, fallback_title: str) -> Article:
    """A model's answer as title + paragraphs: a "标题：" / "Title:" / markdown heading line is the title;
    markdown emphasis and list marks are dropped."""
    lines = [_plain(line) for line in text.splitlines()]
    lines = [line for line in lines if line]
    title = fallback_title
    for i, line in enumerate(lines[:3]):
        match = re.match(r"^(?:标题|題目|题目|title)\s*[:：]\s*(.+)$", line, re.I)
        if match:
            title = match.group(1).strip()
            del lines[i]
            break
    else:
        if lines and re.match(r"^\s*#", text.strip().splitlines()[0]):
            title = lines.pop(0)
    return Article(title, lines)


def _plain(line: str) -> str:
    line = re.sub(r"^\s*(#+|>|[-*+]\s)\s*", "", line)
    return re.sub(r"\*\*|__|`", "", line).strip()


def sentences(text: str) -> list[str]:
    """Sentences of a zh / en text (kept with their punctuation)."""
    parts = re.findall(r"[^。！？!?.\n]+[。！？!?.]*[”\"』」]?", text)
    return [p.strip() for p in parts if len(p.strip().strip("。！？!?.")) > 1]


# -- image prompts -------------------------------------------------------------------------------------
def family(image_model: str) -> str:
    """Which prompt defaults suit the image model: the shapes vocabulary or a Stable Diffusion prompt."""
    return "mini" if image_model == "mini-shapes" else "sd"


def image_defaults(image_model: str, lang: str) -> dict[str, str]:
    """{note, subject, details, style, negative} for the model's family."""
    return {k: _pick(v, lang) for k, v in library()["image"][family(image_model)].items()}


def image_prompt(subject: str, details: str, style: str, image_model: str = "") -> str:
    """The structured prompt: subject, details, then the fixed style suffix (shared by a whole series).
    For mini-shapes, whose text encoder learnt one phrasing, the attributes the parts name are written the way
    its training captions put them ("蓝色背景上的一个大黄色圆形，在中间"), so a background suffix is understood."""
    joined = ", ".join(part.strip() for part in (subject, details, style) if part and part.strip())
    named = shapes.parse_prompt(joined) if family(image_model) == "mini" else {}
    if not named.keys() & {"shape", "colour"}:  # nothing of the shapes world to rephrase
        return joined
    return shapes.describe(named, "zh" if re.search(r"[\u4e00-\u9fff]", joined) else "en")


# -- the series (exercise 2) ---------------------------------------------------------------------------
def series_parts(image_model: str, lang: str) -> list[list[str]]:
    """Rows of the 系列 table: part, question, key points, picture subject."""
    fam = family(image_model)
    return [[_pick(p["part"], lang), _pick(p["question"], lang), _pick(p["points"], lang), _pick(p[fam], lang)]
            for p in library()["series"]["parts"]]


def series_columns(lang: str) -> list[str]:
    return _pick(library()["series"]["columns"], lang).split("|")


def rule_series_article(topic: str, index: int, total: int, part: str, question: str, points: str,
                        lang: str) -> Article:
    """One article of the series from its row: the question, the key points, and where it sits in the series."""
    if lang == "zh":
        intro = f"这是“{topic}”系列的第 {index} 篇（共 {total} 篇）：{part}。{_sentence(question, lang)}"
    else:
        intro = f"Part {index} of {total} of the series on {topic}: {part}. {_sentence(question, lang)}"
    return Article(question, [intro, *sentences(points)])


# -- the storyboard (exercise 3) -----------------------------------------------------------------------
@dataclass
class Shot:
    number: int
    visuals: str  # 画面: becomes the shot's image prompt (before the style suffix)
    narration: str  # 旁白: becomes its speech
    music: str  # 音乐: a suggestion, written into the table and the sidecar

    def row(self) -> list:
        return [self.number, self.visuals, self.narration, self.music]


def shot_columns(lang: str) -> list[str]:
    return _pick(library()["storyboard"]["columns"], lang).split("|")


def rule_storyboard(article_text: str, shots: int, image_model: str, subject: str, lang: str) -> list[Shot]:
    """A shot table by rules: the article's sentences shared out in order over `shots` shots (旁白), a camera
    move per shot applied to the picture subject (画面), and music by place (opening, middle, ending)."""
    said = sentences(article_text)
    if not said:
        return []
    shots = max(1, min(shots, len(said)))
    groups = [said[round(i * len(said) / shots):round((i + 1) * len(said) / shots)] for i in range(shots)]
    music = library()["storyboard"]["music"]
    out = []
    for i, group in enumerate(groups):
        place = "first" if i == 0 else "last" if i == shots - 1 else "middle"
        out.append(Shot(i + 1, camera_subject(subject, i, image_model, lang),
                        ("" if lang == "zh" else " ").join(group), _pick(music[place], lang)))
    return out


def camera_subject(subject: str, index: int, image_model: str, lang: str) -> str:
    """Shot `index`'s picture: a camera move (wide, close-up, pan ...) on the subject. For mini-shapes the move
    becomes its size and position words, the only camera it understands."""
    camera = library()["storyboard"]["camera"][index % len(library()["storyboard"]["camera"])]
    if family(image_model) == "mini":
        attributes = {k: v for k, v in shapes.parse_prompt(subject).items() if k != "background"}
        return shapes.describe({**attributes, "size": camera["size"], "position": camera["position"]}, lang)
    return f"{_pick(camera['name'], 'en').lower()} of {subject}"


_COLUMN_WORDS = {"number": ("镜头", "序号", "shot", "#", "no"), "visuals": ("画面", "visual", "scene", "image"),
                 "narration": ("旁白", "配音", "解说", "voice", "narration"),
                 "music": ("音乐", "音效", "music", "sound")}


def parse_storyboard(text: str) -> list[Shot]:
    """Shots from a model's storyboard: a markdown table (columns found by their names), or blocks led by
    [镜头序号] / [画面描述] / [旁白] / [背景音乐建议] style labels. Unreadable text gives no shots."""
    return _parse_table(text) or _parse_blocks(text)


def _column_of(header: str) -> str | None:
    header = header.lower()
    for column, words in _COLUMN_WORDS.items():
        if any(w in header for w in words):
            return column
    return None


def _parse_table(text: str) -> list[Shot]:
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in text.splitlines()
            if line.strip().startswith("|")]
    rows = [r for r in rows if not all(re.fullmatch(r":?-{2,}:?", c) for c in r if c)]
    if len(rows) < 2:
        return []
    columns = [_column_of(h) for h in rows[0]]
    if "visuals" not in columns or "narration" not in columns:
        return []
    shots = []
    for row in rows[1:]:
        cell = {c: _plain(row[i]) for i, c in enumerate(columns) if c and i < len(row)}
        if cell.get("visuals") or cell.get("narration"):
            shots.append(Shot(len(shots) + 1, cell.get("visuals", ""), cell.get("narration", ""),
                              cell.get("music", "")))
    return shots


def _parse_blocks(text: str) -> list[Shot]:
    shots: list[dict] = []
    for line in text.splitlines():
        match = re.match(r"^\s*[\[【(（]?\s*([^\]】)）:：]{1,12}?)\s*[\]】)）]?\s*[:：]\s*(.*)$", _plain(line))
        column = _column_of(match.group(1)) if match else None
        if column is None:
            continue
        if column == "number" or not shots or shots[-1].get(column):
            shots.append({})
        if column != "number":
            shots[-1][column] = match.group(2).strip()
    return [Shot(i + 1, s.get("visuals", ""), s.get("narration", ""), s.get("music", ""))
            for i, s in enumerate(x for x in shots if x.get("visuals") or x.get("narration"))]


def shots_from_rows(rows: list[list]) -> list[Shot]:
    """The (possibly edited) table back as shots; empty rows dropped, numbers made 1..n."""
    shots = []
    for row in rows:
        cells = [("" if c is None else str(c)).strip() for c in list(row) + [""] * 4][:4]
        if cells[1] or cells[2]:
            shots.append(Shot(len(shots) + 1, cells[1], cells[2], cells[3]))
    return shots


def as_dicts(shots: list[Shot]) -> list[dict]:
    return [asdict(s) for s in shots]


@dataclass
class PagePart:
    """One article of a page with its pictures and how they were made."""
    article: Article
    images: list = field(default_factory=list)  # PIL images
    captions: list[str] = field(default_factory=list)  # the prompt of each image
