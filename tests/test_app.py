"""The app as gradio_client users and browsers meet it, launched in-process."""
from __future__ import annotations

import asyncio

import imageio.v3 as iio
import pytest
from PIL import Image

import app
from studio import api


ENDPOINTS = {"/generate_image", "/list_models", "/manager_status", "/load", "/unload", "/unload_all", "/download",
             "/delete", "/generate_text", "/token_distribution", "/generate_video",
             "/export_code", "/generate_music", "/melody_next_note", "/music_code"}


def test_api_names_match_the_python_api(client):
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert ENDPOINTS <= set(endpoints)
    names = [p["parameter_name"] for p in endpoints["/generate_image"]["parameters"]]
    assert names == ["prompt", "negative_prompt", "model", "sampler", "steps", "cfg_scale", "seed", "width",
                     "height", "batch_size", "batch_count", "mode", "init_image", "denoising_strength", "hires_scale",
                     "hires_upscaler", "hires_steps", "hires_strength", "loras", "lora_weight", "schedule_type",
                     "use_old_scheduling",
                     *(f"control_{n}_{field}" for n in (1, 2) for field in ("on", "kind", "image", "preprocess",
                                                                              "weight", "start", "end", "model", "low",
                                                                              "high")),
                     "guess_mode"]  # ControlNet's units last: calls naming the earlier inputs by position still work
    for name in ENDPOINTS:
        assert hasattr(api, name.strip("/"))


def test_generate_image_through_gradio_client(client):
    gallery, seeds, infotext, notices = client.predict(
        "a red circle", "", "tiny-sd15", "DPM++ 2M Karras", 3, 7, 321, 64, 64, 2, 1, api_name="/generate_image")
    assert seeds == "321, 322" and len(gallery) == 2
    image = Image.open(gallery[1]["image"])
    assert image.size == (64, 64) and "Seed: 322" in image.info["parameters"]  # the PNG keeps its parameters
    assert "Seed: 321" in infotext and notices == ""
    # The same call from Python gives the same pixels. (Seed 322 alone is only close to the batch's second picture:
    # a batch of 2 can round differently on some CPUs; test_api_image holds that to a tolerance.)
    local = api.generate_image("a red circle", "", "tiny-sd15", "DPM++ 2M Karras", 3, 7, 321, 64, 64, 2, save=False)
    assert list(local.images[1].getdata()) == list(image.convert("RGB").getdata())


def test_png_info_sends_every_control_back_and_generate_reproduces_the_pixels(client, tmp_path):
    from tabs import image as image_tab
    gallery, seeds, _info, _notices = client.predict(
        "a blue star", "blurry", "tiny-sd15", "Euler a", 3, 6.5, 77, 64, 64, 1, 1, api_name="/generate_image")
    text, fields, _note = image_tab.read_png(gallery[0]["image"], "zh")
    assert "Seed: 77" in text
    sent = image_tab.send_to_txt2img(fields, "mini-shapes", "", "", "DDIM", 20, 7, -1, 512, 512)
    assert sent[1:] == ("a blue star", "blurry", "Euler a", 3, 6.5, 77, 64, 64)
    again, *_ = client.predict(sent[1], sent[2], "tiny-sd15", *sent[3:], 1, 1, api_name="/generate_image")
    first = Image.open(gallery[0]["image"]).convert("RGB")
    assert list(Image.open(again[0]["image"]).convert("RGB").getdata()) == list(first.getdata())
    code = client.predict("a blue star", "blurry", "tiny-sd15", "Euler a", 3, 6.5, -1, "77", 64, 64, 1,
                          api_name="/export_code")
    assert "seeds = [77]" in code and "EulerAncestralDiscreteScheduler" in code


def test_text_through_gradio_client(client):
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    names = [p["parameter_name"] for p in endpoints["/generate_text"]["parameters"]]
    assert names == ["prompt", "model", "temperature", "top_k", "top_p", "max_new_tokens", "repetition_penalty", "seed"]
    text, seed, notices = client.predict("hello", "tiny-qwen2", 1.2, 0, 1.0, 8, 1.0, 5, api_name="/generate_text")
    # chat: answer only
    assert seed == "5" and text == api.generate_text("hello", "tiny-qwen2", 1.2, 0, 1.0, 8, 1.0, 5).text
    chart, table = client.predict("hello", "tiny-qwen2", 1.0, 3, 1.0, 1.0, api_name="/token_distribution")
    assert [row[4] for row in table["data"]].count("保留") == 3
    with pytest.raises(Exception) as err:
        client.predict("   ", "tiny-qwen2", 1.0, 0, 1.0, 8, 1.0, 5, api_name="/generate_text")
    assert "提示词" in str(err.value)


def test_video_through_gradio_client(client):
    video, strip, seed, notices, gif = client.predict("a red circle", "", "tiny-wan", 2, 5, 4, 5, 8, 32, 32, 3.0,
                                                      api_name="/generate_video")
    assert seed == "4" and len(strip) == 5 and notices == ""
    assert str(video).endswith(".mp4") and iio.immeta(video, plugin="FFMPEG")["fps"] == 8
    assert str(gif).endswith(".gif") and iio.imread(gif, index=None).shape[0] == 5
    width, height, frames, reason = client.predict("tiny-wan", api_name="/recommend_video_settings")
    assert (width, height, frames) == (832, 480, 33) and "GPU" in reason  # a CPU: the model's own settings
    code = client.predict("a red circle", "", "tiny-wan", 2, 5, -1, "4", 5, 8, 32, 32, 3.0,
                          api_name="/export_video_code")
    assert "manual_seed(4)" in code and "WanPipeline" in code


def test_errors_reach_the_client_as_messages_and_the_app_keeps_serving(client):
    with pytest.raises(Exception) as err:
        client.predict("x", "", "/etc", "Euler a", 3, 7, 1, 64, 64, 1, api_name="/generate_image")
    assert "模型目录" in str(err.value) and "Traceback" not in str(err.value)
    with pytest.raises(Exception) as err:
        client.predict("x", "", "tiny-sd15", "Euler a", 3, 7, 1, 2048, 64, 1, api_name="/generate_image")
    assert "太大" in str(err.value) and "1024" in str(err.value)  # the model's own cap, in the page's language
    _registry, loaded, budget, status = client.predict(api_name="/manager_status")
    assert status["device"] == "cpu" and "cpu" in budget


def test_model_buttons_load_and_unload(client):
    _registry, loaded, _budget, status = client.predict("tiny-sdxl", api_name="/load")
    assert [row["title"] for row in status["loaded"]] == ["tiny-sdxl"]
    assert loaded["data"][0][0] == "tiny-sdxl"
    _registry, loaded, _budget, status = client.predict(api_name="/unload_all")
    assert status["loaded"] == []
    registry = client.predict("text", api_name="/list_models")
    assert {row[0] for row in registry["data"]} == {"mini-poem", "qwen2.5-0.5b", "qwen2.5-1.5b"}


def test_page_has_every_tab_in_chinese(studio_env):
    demo = app.build_demo()
    labels = {c.get("props", {}).get("label") for c in demo.config["components"]}
    assert {"文本生成", "文生图", "语音合成", "音乐生成", "文生视频", "跨模态创作", "模型微调 (LoRA)",
            "模型管理"} <= labels


def test_language_switch_relabels_every_registered_component(studio_env):
    import gradio as gr

    from tabs import image, models
    from tabs.ui import UI, Page
    ui = UI("zh")
    with gr.Blocks() as demo:
        page = Page(gr.State("zh"), demo, gr.BrowserState(""))
        image.build(ui, page)
        models.build(ui, page)
    assert len({id(c) for c in ui.components}) == len(ui.components)  # one update per component
    english = ui.relabel("en")
    labels = {u.get("label") for u in english} | {u.get("value") for u in english if isinstance(u.get("value"), str)}
    assert {"Prompt", "CFG scale", "Generate", "Unload all"} <= labels
    cfg_info = next(u["info"] for u in english if u.get("label") == "CFG scale")
    assert "5-10" in cfg_info
    assert all(u.get("label") != "提示词 (Prompt)" for u in english)


def test_the_language_switch_relabels_in_the_browser_and_keeps_every_choice_value(studio_env):
    """The switch's labels are set by the page itself: every output of a server event is kept in the page's
    loading-status table and walked at each later event (a server relabel of ~380 blocks made every click of an
    English page take seconds). The server keeps its own copy of each choice box as built, so a relabelled box must
    keep its values: an English value the Chinese copy lacks would be refused."""
    import gradio as gr
    demo = app.build_demo()
    radio = next(b for b in demo.blocks.values() if isinstance(b, gr.Radio) and b.label == "语言 / Language")
    on_switch = [dep for dep in demo.fns.values() if (radio._id, "change") in [tuple(t) for t in dep.targets]]
    in_browser = [dep for dep in on_switch if dep.fn is None and len(dep.outputs) > 300]
    assert len(in_browser) == 1 and "Generate" in in_browser[0].js and "生成" in in_browser[0].js
    assert sum(len(dep.outputs) for dep in on_switch if dep.fn is not None) < 100
    boxes = [b for b in in_browser[0].outputs if getattr(b, "choices", None)]
    assert len(boxes) > 20
    from tests.test_page_language import relabelled_in_the_browser
    for lang in ("zh", "en"):
        sent = dict(zip(in_browser[0].outputs, relabelled_in_the_browser(in_browser[0].js, lang)))
        for box in boxes:
            if "choices" in sent[box]:
                assert [v for _, v in sent[box]["choices"]] == [v for _, v in box.choices], (lang, box.label)


def test_live_mode_regenerates_the_last_seed_only_when_on(studio_env):
    import gradio as gr

    from tabs import image as image_tab
    args = ("a red circle", "", "tiny-sd15", "Euler a", 3, 7, -1, "42", 64, 64, "txt2img", 1, "Latent", 0, 0.5, [], 0.8,
            "en")
    off = asyncio.run(image_tab.live_generate(False, *args))
    assert off == (gr.skip(),) * 4  # nothing on the page changes
    gallery, seeds, infotext, _notices = asyncio.run(image_tab.live_generate(True, *args))
    assert seeds == "42" and "Steps: 3" in infotext and len(gallery) == 1


def test_a_live_redraw_asking_for_what_the_page_last_asked_leaves_generates_pictures(studio_env):
    """实时 after 生成 with the page's values unchanged (a release the browser held back until the click, or a knob
    released at its old value): 生成's batch stays; a changed knob redraws; each page for itself; a failed redraw
    may be asked for again; a redraw overtaken by a later 生成 shows nothing."""
    from types import SimpleNamespace

    import gradio as gr

    from tabs import image as image_tab
    page, other = SimpleNamespace(session_hash="live-1"), SimpleNamespace(session_hash="live-2")
    knobs = ["a red circle", "", "tiny-sd15", "Euler a", 3, 7, -1]  # prompt .. seed box, as 实时 and 生成 read them

    async def generate():
        return [u async for u in image_tab.generate_image(*knobs, 32, 32, 2, 1, request=page)]  # a batch of 2
    *_, (batch, used, *_rest) = asyncio.run(generate())
    assert len(batch) == 2

    def live(steps, request, model="tiny-sd15"):
        values = [*knobs[:2], model, knobs[3], steps, *knobs[5:], used, 32, 32]
        return asyncio.run(image_tab.live_generate(True, *values, request=request))
    assert live(3, page) == (gr.skip(),) * 4  # nothing new to draw: the page keeps 生成's two pictures
    gallery, seeds, infotext, _ = live(4, page)  # a changed knob: redrawn at 生成's first seed
    assert len(gallery) == 1 and seeds == used.split(",")[0] and "Steps: 4" in infotext
    assert live(4, page) == (gr.skip(),) * 4
    assert len(live(3, other)[0]) == 1  # another page asked for nothing yet
    for _ in range(2):  # an error is not remembered as asked: the same release tries again
        with pytest.raises(gr.Error):
            live(4, page, model="no-such-model")
    # a redraw begun before a 生成 and ending after it (the scheduler may run it last) shows nothing
    from tabs import image_live
    redraw = image_live.ask_live(page, dict(prompt="a red circle", steps=5))
    assert redraw is not None and image_live.latest(page, redraw)
    image_live.asked(page, dict(prompt="a red circle", steps=6))
    assert not image_live.latest(page, redraw)


def test_generate_streams_previews_before_the_result(client):
    job = client.submit("a red circle", "", "tiny-sd15", "Euler a", 10, 7, 5, 64, 64, 1, 1,
                        api_name="/generate_image")
    final = job.result()
    outputs = job.outputs()
    previews = [o for o in outputs[:-1] if o[0] and "5/10" in (o[0][0].get("caption") or "")]
    assert previews, outputs  # the step-5 preview reached the client before the result
    assert final[1] == "5" and "Seed: 5" in final[2]


def test_hires_and_img2img_through_gradio_client(client, tmp_path):
    gallery, _seed, infotext, _ = client.predict(
        "a red circle", "", "tiny-sd15", "Euler a", 3, 7, 8, 64, 64, 1, 1, "txt2img", None, 0.75, 2, "Lanczos", 2,
        0.5, api_name="/generate_image")
    assert Image.open(gallery[0]["image"]).size == (128, 128) and "Hires upscale: 2" in infotext
    source = tmp_path / "source.png"
    Image.new("RGB", (48, 40), (200, 40, 40)).save(source)
    from gradio_client import handle_file
    editor = {"background": handle_file(str(source)), "layers": [], "composite": None}
    gallery, _seed, infotext, _ = client.predict(
        "a red circle", "", "tiny-sd15", "Euler a", 3, 7, 8, 64, 64, 1, 1, "img2img", editor, 0.5, 1, "Latent", 0,
        0.5, api_name="/generate_image")
    assert Image.open(gallery[0]["image"]).size == (48, 40)  # image to image keeps the source's size
    assert "Denoising strength: 0.5" in infotext


def test_editor_layers_become_the_inpainting_mask_and_mistakes_get_messages(studio_env):
    from studio.core.errors import StudioError
    from tabs import image as image_tab
    background = Image.new("RGB", (64, 64), (0, 0, 255))
    layer = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    layer.paste((255, 255, 255, 255), (0, 0, 10, 10))
    source, mask = image_tab.source_and_mask("inpaint", {"background": background, "layers": [layer]})
    assert source is background and mask.getpixel((5, 5)) == 255 and mask.getpixel((30, 30)) == 0
    assert image_tab.source_and_mask("txt2img", {"background": background}) == (None, None)
    for mode, editor, key in [("img2img", None, "img2img_needs_image"),
                              ("inpaint", {"background": None}, "mask_needs_image"),
                              ("inpaint", {"background": background, "layers": []}, "empty_mask")]:
        with pytest.raises(StudioError) as err:
            image_tab.source_and_mask(mode, editor)
        assert err.value.key == key


def test_stop_button_stops_only_its_own_browser(studio_env):
    from types import SimpleNamespace

    from tabs.runner import JOBS, Stops
    stops = Stops()
    mine, theirs = SimpleNamespace(session_hash="a"), SimpleNamespace(session_hash="b")
    my_run, their_run = stops.start(mine), stops.start(theirs)
    stops.stop(mine)
    assert my_run.is_set() and not their_run.is_set()
    JOBS.done(my_run)  # the operator view's list is the server's: later tests read it
    JOBS.done(their_run)


def test_png_with_hires_fix_sends_the_hires_settings_back(studio_env):
    from tabs import image as image_tab
    result = api.generate_image("a cat", model="tiny-sd15", steps=2, seed=4, width=64, height=64, hires_scale=1.5,
                                hires_upscaler="Lanczos", hires_steps=3, hires_strength=0.45, save=False)
    fields = api.read_infotext(result.images[0])
    assert image_tab.send_hires(fields, 1, "Latent", 0, 0.5) == (1.5, "Lanczos", 3, 0.45)
    plain = api.read_infotext(api.generate_image("a cat", model="tiny-sd15", steps=2, seed=4, save=False).images[0])
    assert image_tab.send_hires(plain, 2, "Latent", 0, 0.5)[0] == 1  # no hires in the PNG: hires off


def test_my_work_lists_what_this_browser_made_in_any_tab_and_only_that(studio_env):
    import asyncio
    from types import SimpleNamespace

    from studio.core import history
    from tabs import image as image_tab
    from tabs import mywork
    from tabs import speech as speech_tab
    browser, pictures, files, _, _ = mywork.recall("")
    assert history.valid(browser) and pictures == [] and files is None
    mine, theirs = SimpleNamespace(session_hash="s1"), SimpleNamespace(session_hash="s2")
    async def updates():
        return [u async for u in image_tab.generate_image("a cat", "", "tiny-sd15", "Euler", 2, 7, 6, 32, 32, 1, 1,
                                                          request=mine)]
    *_, (gallery, *_rest) = asyncio.run(updates())
    picture = gallery[0][0]
    assert mywork.remember(browser, mine)[1] == [(picture, "文生图 · a cat · seed 6")]
    # their run, in another browser, is filed under their id only
    asyncio.run(speech_tab.synthesize_speech("你好", "espeak", 1, 1, False, 0, 0, 0, 5, 0.3, 0.7, 20, "", "cmn", 175,
                                             50, 100, request=theirs))  # an async handler, as Gradio awaits it
    other = mywork.remember("", theirs)[0]
    asyncio.run(speech_tab.synthesize_speech("早上好", "espeak", 1, 1, False, 0, 0, 0, 5, 0.3, 0.7, 20, "", "cmn", 175,
                                             50, 100, request=mine))
    same, pictures, files, image_tab_gallery, _ = mywork.remember(browser, mine)
    assert same == browser and pictures == image_tab_gallery == [(picture, "文生图 · a cat · seed 6")]
    assert len(files) == 2 and files[0].endswith(".wav") and files[1] == picture  # newest first
    assert mywork.recall(browser)[1:3] == (pictures, files)  # a reload of the page shows it again
    assert len(mywork.recall(other)[2]) == 1 and mywork.recall(other)[2][0].endswith(".wav")
    assert mywork.recall("")[2] is None  # a new browser sees nothing


def test_builder_chips_assemble_in_the_course_order(studio_env):
    from tabs import image_prompt
    picked = [["一条雄伟的中国龙"], [], ["烟雾缭绕的高山"], ["晨雾弥漫"], ["国风水墨画"], ["高细节"]]
    assert image_prompt.assemble(*picked, "en", "zh") == \
        "a majestic Chinese dragon, misty mountains, morning mist, Chinese ink painting, highly detailed"


def test_text_streams_chats_and_shows_code_through_gradio_client(client):
    job = client.submit("床前明月光", "mini-poem", 1.0, 0, 1.0, 24, 1.0, 9, api_name="/generate_text")
    final = job.result()
    updates = [o[0] for o in job.outputs()]
    assert len(updates) > 2 and final[0] == updates[-1] and updates[0] != updates[-1]
    assert final[0] == "床前明月光" + api.generate_text("床前明月光", "mini-poem", 1.0, 0, 1.0, 24, 1.0, 9).text

    history, box, seed, _ = client.predict("hi", [], "be brief", "tiny-qwen2", 1.0, 0, 1.0, 8, 1.0, 5, api_name="/chat")
    expected = api.chat([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
                        "tiny-qwen2", 1.0, 0, 1.0, 8, 1.0, 5).text
    assert box == "" and seed == "5" and [m["role"] for m in history] == ["user", "assistant"]
    assert _text_of(history[-1]) == expected
    history, *_ = client.predict("more", history, "be brief", "tiny-qwen2", 1.0, 0, 1.0, 8, 1.0, 5, api_name="/chat")
    assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant"]
    with pytest.raises(Exception) as err:
        client.predict("你好", [], "", "mini-poem", 1.0, 0, 1.0, 8, 1.0, 5, api_name="/chat")
    assert "续写" in str(err.value)

    code = client.predict("山", "mini-poem", 0.7, 0, 1.0, 8, 1.0, -1, "123", api_name="/export_text_code")
    assert "torch.manual_seed(123)" in code and "AutoModelForCausalLM" in code


def _text_of(message: dict) -> str:
    content = message["content"]
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content)


def test_speech_through_gradio_client(client):
    names = [p["parameter_name"] for p in client.view_api(
        return_format="dict", print_info=False)["named_endpoints"]["/synthesize_speech"]["parameters"]]
    assert names[:4] == ["text", "model", "seed", "text_seed"] and "voice" in names
    audio, used, speaker, phonemes, view, notices = client.predict(
        "你好，欢迎来到课堂。", "espeak", 2, 42, True, 2, 0, 6, 5, 0.3, 0.7, 20, "", "cmn", 175, 50, 100,
        api_name="/synthesize_speech")
    import wave
    with wave.open(audio) as w:
        assert w.getframerate() == 22050 and w.getnframes() > 22050  # over a second of speech
    assert phonemes and "ni" in phonemes  # eSpeak's phonemes for 你
    with pytest.raises(Exception) as err:
        client.predict("[laugh]", "espeak", 2, 42, True, 2, 0, 6, 5, 0.3, 0.7, 20, "", "cmn", 175, 50, 100,
                       api_name="/synthesize_speech")
    assert "控制标记" in str(err.value)


def test_music_through_gradio_client(client):
    """/generate_music takes the page's controls in order; a learner's melody, its next-note view, its code, and a
    bad value's message in Chinese."""
    names = [p["parameter_name"] for p in client.view_api(
        return_format="dict", print_info=False)["named_endpoints"]["/generate_music"]["parameters"]]
    assert names == ["prompt", "model", "genre", "region", "meter", "mode", "bars", "tempo", "instrument", "velocity",
                     "temperature", "top_k", "top_p", "duration", "guidance", "seed", "melody_audio"]
    melody = ("", "mini-melody", "", "", "2/4", "羽", 4, 90, "guzheng", 90, 1.0, 0, 1.0, 8, 3.0)
    audio, roll, seed, notices, abc, midi, explain, _index = client.predict(*melody, 5, None,
                                                                            api_name="/generate_music")
    assert audio.endswith(".wav") and midi.endswith(".mid") and seed == "5" and "M:2/4" in abc
    assert "4 小节" in explain
    chart, highlighted = client.predict("mini-melody", "", "", "2/4", "羽", 4, 1.0, 0, 1.0, "5", 2, 3.0,
                                        api_name="/melody_next_note")
    assert sum(row[2] == "写下的音" for row in chart["data"]) == 1
    code = client.predict(*melody, -1, "5", None, api_name="/music_code")
    assert "seed" in code and "mini-melody" in code
    with pytest.raises(Exception) as err:
        client.predict(*melody[:6], 0, *melody[7:], 5, None, api_name="/generate_music")
    assert "小节数" in str(err.value)


def test_speech_experiments_take_an_empty_seed_as_random(client):
    """An API caller may leave a seed out (None): the experiments pick one, as the page's -1 does."""
    knobs = (True, 2, 0, 6, 5, 0.3, 0.7, 20, "", "cmn", 175, 50, 100)
    audio, notices = client.predict("A: 你好！\nB: 你好。", "espeak", None, None, *knobs, api_name="/dialogue")
    assert audio.endswith(".wav") and "随机选用种子" in notices
    slow, middle, fast, notices = client.predict("同一句话。", "espeak", None, None, *knobs,
                                                 api_name="/prosody_comparison")
    assert all(p.endswith(".wav") for p in (slow, middle, fast))


def test_train_lora_through_gradio_client(client, tmp_path):
    from gradio_client import handle_file
    paths = []
    for i in range(2):
        Image.new("RGB", (64, 64), (120 + 20 * i, 40, 160)).save(tmp_path / f"p{i}.png")
        paths.append(handle_file(str(tmp_path / f"p{i}.png")))
    curve, notices = client.predict(paths, "sks style", "tiny-sd15", "client-lora", 4, 4, 1e-3, 3, 1, 0, 0,
                                    ["to_q", "to_v"], api_name="/train_lora")
    rows = [dict(zip(curve["columns"], row)) for row in curve["data"]]  # each step's loss, and smoothed
    assert [r["step"] for r in rows] == [1, 2, 3, 1, 2, 3] and "client-lora" in notices
    assert rows[0]["loss"] == rows[3]["loss"] and rows[0]["series"] != rows[3]["series"]
    from studio.image import lora
    assert "client-lora" in lora.available()  # the 文生图 tab's LoRA list finds it
    with pytest.raises(Exception) as err:
        client.predict([], "x", "tiny-sd15", "empty", 4, 4, 1e-3, 3, 1, 0, 0, ["to_q"], api_name="/train_lora")
    assert "训练图片" in str(err.value)


def test_crossmodal_project_and_storyboard_through_gradio_client(client, tmp_path):
    fields = ["拓扑学", "高中生", "什么是拓扑学？", "捏橡皮泥", "拓扑学只关心洞的数量。", "捏一捏。\n洞还在。",
              "完。", "200"]
    article, prompt, notices = client.predict("mini-poem", *fields, 5, api_name="/write_article")  # (states stay)
    assert article.startswith("拓扑学：什么是拓扑学？") and "捏橡皮泥" in article and "费曼技巧" in prompt
    assert "规则" in notices  # offline text is labelled as rules
    gallery = client.predict("一个大红色圆形", "", "绿色背景", "", "mini-shapes", 5, 2,
                                       api_name="/story_images")
    assert len(gallery) == 2 and "属性吻合" in gallery[0]["caption"]
    from gradio_client import handle_file
    pictures = [{"image": handle_file(g["image"]), "caption": g["caption"]} for g in gallery]
    preview, page_zip, _ = client.predict(article, pictures, api_name="/compose_page")
    assert "<iframe" in preview and page_zip.endswith(".zip")
    import zipfile
    with zipfile.ZipFile(page_zip) as z:
        assert sum(n.endswith(".png") for n in z.namelist()) == 2 and \
            "什么是拓扑学？" in z.read("story/index.html").decode()
    table, _ = client.predict(article, "拓扑学", 2, "mini-poem", "mini-shapes", "一个大红色圆形", 5,
                              api_name="/make_storyboard")
    assert len(table["data"]) == 2
    video, shots, files, notices = client.predict(table, "mini-shapes", "espeak", "绿色背景", "", 5,
                                                  api_name="/storyboard_video")
    assert len(shots) == 2 and "2 个镜头" in notices
    # the video comes as an update carrying its subtitles (Gradio turns the SRT into WebVTT for the player)
    assert iio.immeta(video["value"], plugin="FFMPEG")["fps"] == 8 and video["subtitles"].endswith(".vtt")
    assert any(f.endswith(".srt") for f in files)
