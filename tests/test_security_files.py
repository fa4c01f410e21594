"""Each learner's files are their own (issue 35, finding 5): with login on, an output, a LoRA's weights and its
captions reach their maker and the operator only, whether asked for by server path or by the URL the page got;
no message shows a server path; a LoRA a learner trains is theirs until the operator shares it.

Launched the way app.py launches (tabs.server.launch); learners are gradio_client Clients and raw HTTP sessions
(httpx, logged in through POST /login), as a learner's browser or script would be.
"""
from __future__ import annotations

import json
import os
import socket
import tempfile
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file
from PIL import Image

import app


USERS = {"alice": "pa", "bob": "pb", "teacher": "pt"}
UNIT_OFF = [False, "scribble", None, True, 1.0, 0.0, 1.0, "", 100, 200]  # a ControlNet unit, switched off
PICTURE = ["a red circle", "", "tiny-sd15", "Euler a", 2, 7, 5, 64, 64, 1, 1, "txt2img", None, 0.75, 1, "Latent", 0,
           0.5, [], 0.8, "Automatic", False, *UNIT_OFF, *UNIT_OFF, False]  # /generate_image's 43 parameters (raw HTTP
# sends every one)


def _launch(demo, outputs: Path):
    try:
        from tabs import server
    except ImportError:  # the studio before tabs.server: launched as its app.main did, outputs in allowed_paths
        return demo.launch(auth=list(USERS.items()), allowed_paths=[str(outputs)], prevent_thread_lock=True,
                           quiet=True)
    with socket.socket() as probe:  # a free port: other servers (and test runs) may hold 7860
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return server.launch(demo, prevent_thread_lock=True, quiet=True, server_port=port)


@pytest.fixture(params=["temp", "elsewhere"])
def served(request, studio_env, tmp_path, monkeypatch):
    """The studio with login on (teacher is the operator). "elsewhere": the outputs folder outside the working and
    temp folders, like STUDIO_OUTPUT_DIR=/srv/outputs, where Gradio copies nothing from on its own."""
    outputs = tmp_path / "outputs"
    studio_env(STUDIO_AUTH=",".join(f"{u}:{p}" for u, p in USERS.items()), STUDIO_OPERATORS="teacher",
               STUDIO_OUTPUT_DIR=outputs)
    if request.param == "elsewhere":
        elsewhere = tmp_path / "system-temp"
        elsewhere.mkdir()
        monkeypatch.setattr(tempfile, "tempdir", str(elsewhere))
    demo = app.build_demo()
    demo.queue()
    _, url, _ = _launch(demo, outputs)
    sessions = []

    def login(user: str) -> httpx.Client:
        http = httpx.Client(base_url=url, timeout=120)
        assert http.post("/login", data={"username": user, "password": USERS[user]}).status_code == 200
        sessions.append(http)
        return http
    try:
        yield url, outputs, login
    finally:
        for http in sessions:
            http.close()
        demo.close()


def _call(http: httpx.Client, name: str, *data) -> tuple[str, object]:
    """An API call over raw HTTP: ("complete", outputs) or ("error", message)."""
    answer = http.post(f"/gradio_api/call/{name}", json={"data": list(data)})
    answer.raise_for_status()
    text = http.get(f"/gradio_api/call/{name}/{answer.json()['event_id']}").text
    event = payload = None
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        event, payload = fields.get("event", event), fields.get("data", payload)
    return event, json.loads(payload) if payload and payload != "null" else payload


def _fetch(http: httpx.Client, path_or_url: str) -> httpx.Response:
    url = path_or_url if path_or_url.startswith(("/gradio_api", "http")) else f"/gradio_api/file={path_or_url}"
    return http.get(url)


def _refused(response: httpx.Response, original: bytes) -> bool:
    return response.status_code in (403, 404) and original not in response.content


def test_an_output_reaches_its_maker_and_the_operator_only(served, tmp_path):
    url, outputs, login = served
    # a gradio_client Client gets its pictures, as test_app's calls rely on
    gallery, seeds, _info, _notes = Client(url, auth=("alice", USERS["alice"]), verbose=False).predict(
        *PICTURE[:11], api_name="/generate_image")
    assert seeds == "5" and Image.open(gallery[0]["image"]).size == (64, 64)
    # raw HTTP: the URL the page gets for alice's picture
    alice, bob, teacher = login("alice"), login("bob"), login("teacher")
    event, result = _call(alice, "generate_image", *PICTURE)
    assert event == "complete", result
    served_url = result[0][0]["image"]["url"]
    name = Path(result[0][0]["image"]["path"]).name
    original = next(outputs.rglob(name))  # the file in the outputs folder
    data = original.read_bytes()
    assert str(outputs) not in json.dumps(result)  # the page learns no outputs path
    mine = _fetch(alice, served_url)
    assert mine.status_code == 200 and mine.content == data
    assert _fetch(teacher, served_url).content == data  # the operator may open any learner's file
    assert _refused(_fetch(bob, served_url), data)  # bob, logged in, with the URL alice's page got
    assert _refused(_fetch(bob, str(original)), data)  # ... or the server path of the file
    cache = Path(os.environ["GRADIO_TEMP_DIR"])
    copies = [p for p in cache.rglob(name)]
    assert copies and all(_refused(_fetch(bob, str(p)), data) for p in copies)  # no copy is a way round
    assert all(_fetch(teacher, str(p)).status_code == 200 for p in copies)
    # the outputs folder's own records are nobody's download
    for secret in [p for p in (outputs / "history").rglob("*") if p.is_file()]:
        assert _fetch(bob, str(secret)).status_code in (403, 404), secret.name


def _xy(client: Client, lora_axis: str):
    return client.predict("a red circle", "", "tiny-sd15", "Euler a", 2, 7, 3, 64, 64, "lora", lora_axis, "none", "",
                          api_name="/xy_plot")


@pytest.mark.parametrize("served", ["temp"], indirect=True)
def test_a_learners_lora_is_theirs_until_the_operator_shares_it_and_no_message_shows_a_path(served, tmp_path,
                                                                                              models_dir):
    url, outputs, login = served
    alice = Client(url, auth=("alice", USERS["alice"]), verbose=False)
    bob = Client(url, auth=("bob", USERS["bob"]), verbose=False)
    teacher = Client(url, auth=("teacher", USERS["teacher"]), verbose=False)
    # an unknown LoRA in the X/Y grid: a message naming no server path
    with pytest.raises(Exception) as err:
        _xy(bob, "none, nope:1")
    message = str(err.value)
    assert "nope" in message
    for path in (str(outputs), str(models_dir), str(tmp_path), os.getcwd(), tempfile.gettempdir()):
        assert path not in message, message
    # alice trains a LoRA with her own captions
    Image.new("RGB", (64, 64), (150, 40, 160)).save(tmp_path / "p.png")
    _curve, notices = alice.predict([handle_file(str(tmp_path / "p.png"))], "alice-secret-caption", "tiny-sd15",
                                    "alice-ink", 4, 4, 1e-3, 2, 1, 0, 0, ["to_q", "to_v"], api_name="/train_lora")
    assert "alice-ink" in notices
    folder = outputs / "lora" / "alice-ink"
    weights, captions = folder / "pytorch_lora_weights.safetensors", folder / "training.json"
    assert weights.is_file() and "alice-secret-caption" in captions.read_text(encoding="utf-8")
    # hers to use; bob can neither use it, nor see its name, nor fetch its weights or captions
    _xy(alice, "none, alice-ink:1")
    with pytest.raises(Exception) as err:
        _xy(bob, "none, alice-ink:1")
    assert "alice-ink" in str(err.value) and str(outputs) not in str(err.value)
    with pytest.raises(Exception) as err:
        bob.predict(*PICTURE[:18], ["alice-ink"], 1.0, api_name="/generate_image")
    assert str(outputs) not in str(err.value)
    assert "alice-ink" not in [row[0] for row in bob.predict(api_name="/list_loras")["data"]]
    http = login("bob")
    for path in (weights, captions):
        assert _refused(_fetch(http, str(path)), path.read_bytes()), path.name
    # a learner cannot share it; the operator can, and then bob may use it (still not fetch its files)
    with pytest.raises(Exception):
        bob.predict("alice-ink", True, api_name="/share_lora")
    with pytest.raises(Exception):
        _xy(bob, "none, alice-ink:1")
    teacher.predict("alice-ink", True, api_name="/share_lora")
    _xy(bob, "none, alice-ink:1")
    assert "alice-ink" in [row[0] for row in bob.predict(api_name="/list_loras")["data"]]
    assert _refused(_fetch(http, str(captions)), captions.read_bytes())
    teacher.predict("alice-ink", False, api_name="/share_lora")
    with pytest.raises(Exception):
        _xy(bob, "none, alice-ink:1")
