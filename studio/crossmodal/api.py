"""跨模态创作: the course's topology project (text -> pictures -> page), its 系列 and 分镜 exercises.

    from studio import api
    project = api.topology_project()                      # offline: rules + mini-shapes
    print(project.page.zip_path)                          # story/index.html + story/images/*.png

Every step also stands alone: write_article, story_images, compose_page, write_series, make_storyboard,
storyboard_video, alignment_score. Text steps use the text model when it writes prose; mini-poem writes
poems, so with it (or model="rules") the article and the shot table are built from the templates' own
structure by rules, and the result says so.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from studio.core import aigc_label, validate
from studio.core.calls import Progress, caller_lang, check_stop, task_spec
from studio.core.errors import StudioError
from studio.core.i18n import t
from studio.core.manager import manager
from studio.core.outputs import json_bytes, new_name, output_folder, save_png, write_atomic
from studio.core.registry import CARDS
from studio.crossmodal import alignment as _alignment
from studio.crossmodal import page as storypage
from studio.crossmodal import slideshow, story
from studio.crossmodal.knobs import KNOBS
from studio.image.api import generate_image
from studio.speech.api import synthesize_speech
from studio.text.api import generate_text


RULES = "rules"
POETRY_MODELS = ("mini-poem",)  # built-in models that write verse, not prose
MAX_IMAGES = KNOBS["count"].high
ARTICLE_CAP = 6000


@dataclass
class ArticleResult:
    title: str
    paragraphs: list[str]
    method: str  # "rules" or the text model's key
    prompt: str  # the Feynman prompt (sent to the model, or what a real model would get)
    seed: int | None = None
    notices: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return story.Article(self.title, self.paragraphs).text


@dataclass
class StoryImage:
    image: Image.Image  # carries its infotext as image.info["parameters"]
    prompt: str
    seed: int
    infotext: str
    alignment: _alignment.Alignment


@dataclass
class PageResult:
    html: str  # the page as it is in the zip (images linked beside it)
    preview_html: str  # the same page with its images inlined
    zip_path: Path | None
    notices: list[str] = field(default_factory=list)


@dataclass
class ProjectResult:
    articles: list[ArticleResult]
    images: list[list[StoryImage]]  # per article
    page: PageResult
    notices: list[str] = field(default_factory=list)


@dataclass
class StoryboardResult:
    shots: list[story.Shot]
    method: str  # "rules" or the text model's key
    notices: list[str] = field(default_factory=list)


@dataclass
class StoryVideoResult:
    path: Path  # the MP4 (H.264 + AAC narration); .srt subtitles and a .json sidecar lie beside it
    subtitles: Path
    shots: list[story.Shot]
    images: list[Image.Image]
    times: list[tuple[float, float]]  # each shot's (start, end) in seconds
    notices: list[str] = field(default_factory=list)


def crossmodal_defaults(image_model: str = "mini-shapes", *, lang: str | None = None) -> dict:
    """The project's form fields, the image prompt defaults of the model's family, the series rows and the
    table columns, in `lang`."""
    lang = caller_lang(lang)
    return {"article": story.article_fields(lang), "image": story.image_defaults(image_model, lang),
            "series": story.series_parts(image_model, lang), "series_columns": story.series_columns(lang),
            "shot_columns": story.shot_columns(lang)}


# -- step 1: text ------------------------------------------------------------------------------------
def _writes_prose(model: str) -> bool:
    return model not in (RULES, *POETRY_MODELS)


def write_article(values: dict | None = None, model: str = "mini-poem", temperature: float | None = None,
                  seed: int = -1, max_new_tokens: int | None = None, *, lang: str | None = None) -> ArticleResult:
    """Step 1: the Feynman article. values: the form's fields (topic, audience, question, analogy, key_idea,
    steps, summary, length; empty ones take the topology defaults). A prose model gets the Feynman prompt and
    its answer is split into title and paragraphs; mini-poem / "rules" assemble the fields by the template."""
    lang = caller_lang(lang)
    values = _checked_fields(values)
    prompt = story.article_prompt(values, lang)
    if not _writes_prose(model):
        article = story.rule_article(values, lang)
        return ArticleResult(article.title, article.paragraphs, RULES, prompt,
                             notices=[t("notice_rules_text", lang, model=model, models=_prose_models())])
    task_spec(model, "text")
    result = generate_text(prompt, model, temperature=temperature, seed=seed, lang=lang,
                           max_new_tokens=max_new_tokens or _article_tokens(values, lang))
    article = story.parse_article(result.text, story.rule_article(values, lang).title)
    if not article.paragraphs:
        raise StudioError("story_no_text", model=model)
    return ArticleResult(article.title, article.paragraphs, model, prompt, result.seed, result.notices)


def _checked_fields(values) -> dict:
    if values is not None and not isinstance(values, dict):
        raise StudioError("bad_story_fields")
    return {str(k): validate.text(str(k), v, ARTICLE_CAP) for k, v in (values or {}).items() if v is not None}


def _article_tokens(values: dict, lang: str) -> int:
    """Room for the asked length (a Chinese character is about one token; an English word about 1.4)."""
    try:
        length = int(float(story.with_defaults(values, lang)["length"]))
    except ValueError:
        length = 400
    return max(128, min(1536, int(length * (1.6 if lang == "zh" else 2.0))))


def _prose_models() -> str:
    return ", ".join(k for k in ("qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-7b") if k in CARDS)


# -- step 2: pictures ----------------------------------------------------------------------------------
def story_images(subject: str, details: str = "", style: str = "", negative_prompt: str = "",
                 model: str = "mini-shapes", seed: int = 42, count: int = 1, steps: int | None = None,
                 cfg_scale: float | None = None, sampler: str | None = None, *, lang: str | None = None,
                 progress: Progress | None = None, stop: threading.Event | None = None,
                 save: bool = True) -> list[StoryImage]:
    """Step 2: the structured prompt (subject, details, fixed style suffix) at a fixed seed; image i uses
    seed + i. Each picture comes with its alignment score. Setting `stop` ends it at the next step, with nothing
    saved (StudioError "stopped"); save=False leaves the saving to the caller (_save_pictures)."""
    lang = caller_lang(lang)
    count = KNOBS["count"].check(count)
    prompt = story.image_prompt(*(validate.text(n, v, 1000) for n, v in
                                  (("subject", subject), ("details", details), ("style", style))), model)
    if not prompt.strip():
        raise StudioError("empty_prompt")
    result = generate_image(prompt, negative_prompt, model, sampler, steps, cfg_scale, seed, batch_size=count,
                            lang=lang, progress=progress, stop=stop, save=save)
    check_stop(stop)  # a stopped batch keeps no pictures (and saved none)
    scores = alignment_score(result.images, [prompt] * len(result.images), model)
    return [StoryImage(im, prompt, s, info, a)
            for im, s, info, a in zip(result.images, result.seeds, result.infotexts, scores)]


def alignment_score(images, prompts, image_model: str = "mini-shapes") -> list[_alignment.Alignment]:
    """How well each picture matches its prompt: the attribute analyser for mini-shapes, the CLIP score
    (clip-vit-b32) for other models when it is on disk, else method "none"."""
    from studio.image import uploads as _images
    images = [images] if not isinstance(images, (list, tuple)) else list(images)
    images = [_images.to_rgb(im) for im in images]  # a clear message for anything that is not a picture
    prompts = [prompts] * len(images) if isinstance(prompts, str) else prompts
    if not isinstance(prompts, (list, tuple)) or not all(isinstance(p, str) for p in prompts):
        raise StudioError("story_counts", images=len(images), prompts="?")
    if len(prompts) != len(images):
        raise StudioError("story_counts", images=len(images), prompts=len(prompts))
    if image_model == "mini-shapes":
        return [_alignment.shapes_alignment(im, p) for im, p in zip(images, prompts)]
    if not _alignment.clip_available():
        return [_alignment.Alignment("none", None) for _ in images]
    scores = manager().run(_alignment.CLIP_KEY, lambda clip: _alignment.clip_score(clip, images, prompts))
    return [_alignment.Alignment("clip", s) for s in scores]


# -- step 3: the page ----------------------------------------------------------------------------------
def compose_page(parts: list[dict], title: str | None = None, credits: list[str] | None = None, save: bool = True,
                 *, lang: str | None = None) -> PageResult:
    """Step 3: articles and pictures as one styled HTML page, zipped with its images.
    parts: [{"title", "paragraphs" (or "text"), "images": [PIL], "captions": [str]}]; credits: footer lines
    naming the models and parameters used (the pictures' own parameters are added)."""
    lang = caller_lang(lang)
    page_parts = [_page_part(p) for p in validate.items("parts", parts or [], 12)]
    if not page_parts:
        raise StudioError("story_empty")
    title = (title or page_parts[0].article.title).strip()
    footer = ([str(c) for c in validate.items("credits", credits or [], 50)]
              + [im.info["parameters"] for p in page_parts for im in p.images if im.info.get("parameters")])
    footer = list(dict.fromkeys(line.replace("\n", " · ") for line in footer))  # an infotext is one footer line
    label = t("story_ai_label", lang)
    page_html = storypage.render(title, page_parts, footer, label, lang=lang)
    preview = storypage.render(title, page_parts, footer, label, inline=True, lang=lang)
    notices: list[str] = []
    path = _save_zip(page_html, page_parts, {"title": title, "credits": footer}, lang, notices) if save else None
    return PageResult(page_html, preview, path, notices)


def _page_part(part: dict) -> story.PagePart:
    if not isinstance(part, dict):
        raise StudioError("bad_story_fields")
    paragraphs = part.get("paragraphs")
    if paragraphs is None:
        parsed = story.parse_article(validate.text("text", part.get("text", ""), ARTICLE_CAP), part.get("title", ""))
        title, paragraphs = part.get("title") or parsed.title, parsed.paragraphs
    else:
        title = part.get("title", "")
    title = validate.text("title", title, 200).strip()
    paragraphs = [validate.text("paragraph", p, ARTICLE_CAP) for p in paragraphs if str(p).strip()]
    if not title and not paragraphs:
        raise StudioError("story_empty")
    from studio.image import uploads as _images
    images = [_images.open_image(im) for im in validate.items("images", part.get("images") or [], MAX_IMAGES * 4)]
    captions = list(part.get("captions") or [im.info.get("parameters", "").split("\n")[0] for im in images])
    return story.PagePart(story.Article(title, paragraphs), images, (captions + [""] * len(images))[:len(images)])


def _save_zip(page_html: str, parts, params: dict, lang: str, notices: list[str]) -> Path | None:
    try:
        path = output_folder("crossmodal") / new_name(".zip")
        params = {**params, aigc_label.KEY: aigc_label.record(path.name)}
        return write_atomic(path, lambda f: storypage.write_zip(f, page_html, parts, params))
    except OSError as exc:
        notices.append(t("notice_not_saved", lang, reason=exc.strerror or str(exc)))
        return None


def topology_project(values: dict | None = None, text_model: str = "mini-poem", image_model: str = "mini-shapes",
                     seed: int = 42, images: int = 1, subject: str | None = None, details: str | None = None,
                     style: str | None = None, negative_prompt: str | None = None, *,
                     lang: str | None = None) -> ProjectResult:
    """The whole project in one call: article, pictures (the image family's defaults unless given), page."""
    lang = caller_lang(lang)
    d = story.image_defaults(image_model, lang)
    article = write_article(values, text_model, seed=seed, lang=lang)
    pictures = story_images(d["subject"] if subject is None else subject, d["details"] if details is None else details,
                            d["style"] if style is None else style,
                            d["negative"] if negative_prompt is None else negative_prompt, image_model, seed, images,
                            lang=lang)
    page = compose_page([_as_part(article, pictures)], credits=[credit(article, lang)], lang=lang)
    return ProjectResult([article], [pictures], page, article.notices + page.notices)


def _as_part(article: ArticleResult, pictures: list[StoryImage]) -> dict:
    return {"title": article.title, "paragraphs": article.paragraphs, "images": [p.image for p in pictures],
            "captions": [p.prompt for p in pictures]}


def credit(article: ArticleResult, lang: str) -> str:
    """The footer line for the text: which model (or the rules) and its seed."""
    if article.method == RULES:
        return t("story_credit_rules", lang)
    return t("story_credit_model", lang, model=article.method, seed=article.seed)


# -- 系列 (exercise 2) ---------------------------------------------------------------------------------------
def write_series(topic: str = "", rows: list[list[str]] | None = None, text_model: str = "mini-poem",
                 image_model: str = "mini-shapes", style: str | None = None, negative_prompt: str | None = None,
                 seed: int = 42, seed_step: int = 1, *, lang: str | None = None,
                 progress: Progress | None = None, stop: threading.Event | None = None) -> ProjectResult:
    """Three (or more) articles on one topic with pictures that look like one series: every picture shares the
    style suffix, and part i uses seed + i * seed_step. rows: [part, question, key points, picture subject].
    Setting `stop` ends it at the next part or step; a stopped series saves nothing (StudioError "stopped")."""
    lang = caller_lang(lang)
    d = story.image_defaults(image_model, lang)
    topic = validate.text("topic", topic, 200).strip() or story.with_defaults({}, lang)["topic"]
    rows = [[str(c) for c in validate.items("row", r, 8)] + [""] * 4
            for r in validate.items("rows", rows or story.series_parts(image_model, lang), 6)]
    rows = [r[:4] for r in rows if any(c.strip() for c in r[:4])]
    if not 1 <= len(rows) <= 6:
        raise StudioError("out_of_range", name="series", low=1, high=6, value=len(rows))
    style = d["style"] if style is None else style
    seed = validate.number("seed", seed, 0, validate.MAX_SEED, int)
    seed_step = KNOBS["seed_step"].check(seed_step)
    articles, pictures, notices = [], [], []
    for i, (part, question, points, subject) in enumerate(rows):
        check_stop(stop)
        if progress:
            progress(i / len(rows), f"{i + 1}/{len(rows)} {part}")
        article = _series_article(topic, i, len(rows), part, question, points, text_model, seed, lang)
        articles.append(article)
        check_stop(stop)
        pictures.append(story_images(subject, "", style, d["negative"] if negative_prompt is None else negative_prompt,
                                     image_model, seed + i * seed_step, 1, lang=lang, stop=stop, save=False))
    check_stop(stop)
    notices = list(dict.fromkeys(n for a in articles for n in a.notices))
    _save_pictures([p for ps in pictures for p in ps], lang, notices)
    page = compose_page([_as_part(a, p) for a, p in zip(articles, pictures)], title=topic,
                        credits=[credit(articles[0], lang), t("story_credit_series", lang, style=style, seed=seed,
                                                              step=seed_step)], lang=lang)
    return ProjectResult(articles, pictures, page, notices + page.notices)


def _series_article(topic, i, total, part, question, points, text_model, seed, lang) -> ArticleResult:
    if _writes_prose(text_model):
        values = {"topic": topic, "question": question, "key_idea": points, "steps": points}
        return write_article(values, text_model, seed=seed + i, lang=lang)
    article = story.rule_series_article(topic, i + 1, total, part, question, points, lang)
    return ArticleResult(article.title, article.paragraphs, RULES, question,
                         notices=[t("notice_rules_text", lang, model=text_model, models=_prose_models())])


# -- 分镜 (exercise 3) ---------------------------------------------------------------------------------------
def make_storyboard(article: str, topic: str = "", shots: int = 5, text_model: str = "mini-poem",
                    image_model: str = "mini-shapes", subject: str | None = None, seed: int = -1, *,
                    lang: str | None = None) -> StoryboardResult:
    """The article as a shot table (镜头 / 画面 / 旁白 / 音乐). A prose model gets the course's storyboard prompt
    and its table is parsed (rules take over, with a notice, when it cannot be read); otherwise rules: the
    article's sentences shared over `shots` shots, a camera move per shot on the picture subject."""
    lang = caller_lang(lang)
    article = validate.text("article", article, ARTICLE_CAP)
    if not story.sentences(article):
        raise StudioError("story_empty")
    shots = KNOBS["shots"].check(shots)
    subject = story.image_defaults(image_model, lang)["subject"] if subject is None else validate.text("subject",
                                                                                                       subject, 1000)
    topic = validate.text("topic", topic, 200)
    notices: list[str] = []
    body = _body(article)
    if _writes_prose(text_model):
        from studio.text.templates import fill
        topic = topic or story.with_defaults({}, lang)["topic"]
        answer = generate_text(fill("storyboard", {"topic": topic, "article": article}, lang), text_model,
                               seed=seed, max_new_tokens=1024, lang=lang)
        parsed = story.parse_storyboard(answer.text)
        if parsed:
            return StoryboardResult(parsed[:story.MAX_SHOTS], text_model, answer.notices)
        notices.append(t("notice_storyboard_unparsed", lang, model=text_model))
    else:
        notices.append(t("notice_rules_storyboard", lang, model=text_model, models=_prose_models()))
    return StoryboardResult(story.rule_storyboard(body, shots, image_model, subject, lang), RULES, notices)


def _body(article: str) -> str:
    """The article without its title line (a first line followed by more text), which is no voice-over."""
    lines = article.strip().splitlines()
    return ("\n".join(lines[1:]) if len(lines) > 1 and len(lines[0]) <= 60 and story.sentences("\n".join(lines[1:]))
            else article)


def storyboard_video(shots, image_model: str = "mini-shapes", speech_model: str = "espeak", style: str | None = None,
                     negative_prompt: str | None = None, seed: int = 42, voice: str | None = None, fps: int = 8,
                     *, lang: str | None = None, progress: Progress | None = None,
                     stop: threading.Event | None = None) -> StoryVideoResult:
    """Each shot's 画面 (+ style suffix) becomes a picture at seed + i, its 旁白 becomes speech; one MP4 holds
    the pictures for as long as their narration, with the narration as its soundtrack and SRT subtitles.
    shots: StoryboardResult.shots, dicts, or table rows [number, visuals, narration, music]."""
    lang = caller_lang(lang)
    shots = _shots(shots)
    d = story.image_defaults(image_model, lang)
    style = d["style"] if style is None else style
    seed = validate.number("seed", seed, 0, validate.MAX_SEED, int)
    fps = validate.number("fps", fps, 1, 30, int)
    task_spec(speech_model, "speech")
    segments, images, notices, pictures = [], [], [], []
    for i, shot in enumerate(shots):
        _check_stop(stop)
        if progress:
            progress(i / len(shots), t("story_progress_shot", lang, shot=i + 1, total=len(shots)))
        picture = story_images(shot.visuals or shot.narration, "", style,
                               d["negative"] if negative_prompt is None else negative_prompt, image_model, seed + i,
                               lang=lang, stop=stop, save=False)[0]
        speech = synthesize_speech(shot.narration or shot.visuals, speech_model, seed=seed, save=False,
                                   **_voice(speech_model, voice, lang), lang=lang, stop=stop)
        pictures.append(picture)
        notices += [n for n in speech.notices if n not in _piece_notices(lang)]  # per-shot splits are noise here
        images.append(picture.image)
        segments.append(slideshow.Segment(picture.image, speech.audio, speech.sample_rate, shot.narration))
    _check_stop(stop)
    _save_pictures(pictures, lang, notices)  # only now: a stopped storyboard leaves no files
    return _write_story_video(segments, shots, images, fps, {
        "image_model": image_model, "speech_model": speech_model, "style": style, "seed": seed, "fps": fps,
        "shots": story.as_dicts(shots)}, list(dict.fromkeys(notices)), lang)


def _save_pictures(pictures: list[StoryImage], lang: str, notices: list[str]) -> None:
    """The pictures of a series or storyboard as PNGs (as story_images saves its own), once the whole run is made."""
    for p in pictures:
        try:
            save_png(p.image, p.infotext, p.seed)
        except OSError as exc:
            note = t("notice_not_saved", lang, reason=exc.strerror or str(exc))
            if note not in notices:
                notices.append(note)


def _piece_notices(lang: str) -> set[str]:
    return {t("notice_speech_pieces", lang, pieces=n) for n in range(2, 200)}


def _shots(shots) -> list[story.Shot]:
    if isinstance(shots, StoryboardResult):
        shots = shots.shots
    rows = []
    for s in validate.items("shots", shots or [], story.MAX_SHOTS * 4):
        if isinstance(s, story.Shot):
            rows.append(s.row())
        elif isinstance(s, dict):
            rows.append([s.get("number"), s.get("visuals", ""), s.get("narration", ""), s.get("music", "")])
        elif isinstance(s, (list, tuple)):
            rows.append(list(s))
        else:
            raise StudioError("bad_story_fields")
    out = story.shots_from_rows(rows)
    if not out:
        raise StudioError("story_no_shots")
    if len(out) > story.MAX_SHOTS:
        raise StudioError("out_of_range", name="shots", low=1, high=story.MAX_SHOTS, value=len(out))
    for shot in out:
        validate.text("narration", shot.narration, 500)
        validate.text("visuals", shot.visuals, 1000)
    return out


def _voice(speech_model: str, voice: str | None, lang: str) -> dict:
    if task_spec(speech_model, "speech").loader == "espeak":
        return {"voice": voice or ("cmn" if lang == "zh" else "en-us")}
    return {}


def _check_stop(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise StudioError("story_stopped")


def _write_story_video(segments, shots, images, fps, params, notices, lang) -> StoryVideoResult:
    path = output_folder("crossmodal") / new_name(".mp4", params["seed"])
    try:
        times = slideshow.write(path, segments, fps)
        subtitles = path.with_suffix(".srt")
        write_atomic(subtitles, lambda f: f.write(slideshow.srt([s.narration for s in shots], times).encode("utf-8")))
        params["times"] = times
        write_atomic(path.with_suffix(".json"), lambda f: f.write(json_bytes(params, path.name)))
    except OSError as exc:
        raise StudioError("story_not_saved", reason=exc.strerror or str(exc)) from exc
    return StoryVideoResult(path, subtitles, shots, images, times, notices)
