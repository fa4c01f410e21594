"""Locking the class server (issue 35): a login that starts, teacher and learner roles, owner-only cancels, a slowed
login and nothing of the API before it. The other findings have their own modules: test_security_cancel (cancelled
jobs stop), test_security_files (each learner's files), test_security_disk (temp and memory bounds),
test_security_messages (typed HTML, refusals with reasons)."""
from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from gradio_client import Client

from studio import api
from studio.core import accounts
from studio.core.config import configure
from tests.serving import served


ROOT = Path(__file__).resolve().parent.parent
USERS = "teacher:pt,alice:pa,bob:pb"
OPERATOR_ENDPOINTS = {"/load": ("tiny-sd15",), "/unload": ("tiny-sd15",), "/unload_all": (),
                      "/download": ("clip-vit-b32",), "/delete": ("clip-vit-b32",)}


@pytest.fixture
def class_server(studio_env):
    """A server with login: the teacher is the operator, alice and bob are learners."""
    studio_env(STUDIO_AUTH=USERS, STUDIO_OPERATORS="teacher")
    with served() as (url, _demo):
        yield url


def _login(url: str, user: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=60)
    assert client.post("/login", data={"username": user, "password": password}).status_code == 200
    return client


def _call(http: httpx.Client, api_name: str, *data) -> tuple[str, dict | list]:
    """A raw HTTP call of a named endpoint: the last (event, data) of its result stream."""
    event = http.post(f"/gradio_api/call/{api_name}", json={"data": list(data)})
    assert event.status_code == 200, event.text
    lines = http.get(f"/gradio_api/call/{api_name}/{event.json()['event_id']}").text.strip().splitlines()
    return lines[-2].removeprefix("event: "), json.loads(lines[-1].removeprefix("data: "))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_up(url: str, proc: subprocess.Popen, seconds: float = 120) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("the studio did not start")


def test_the_readme_login_command_starts_and_logs_in(tmp_path, models_dir):
    """`STUDIO_AUTH=teacher:pw1,class:pw2 python app.py` exactly as the README says (with STUDIO_PRELOAD), run as
    a process: it starts, both accounts log in, a wrong password does not, the preloaded model is loaded."""
    port = _free_port()
    env = {**os.environ, "STUDIO_AUTH": "teacher:pw1,class:pw2", "STUDIO_OPERATORS": "teacher",
           "STUDIO_PRELOAD": "tiny-qwen2", "STUDIO_MODEL_DIRS": str(models_dir), "STUDIO_HUB": "local",
           "STUDIO_OUTPUT_DIR": str(tmp_path / "out"), "GRADIO_TEMP_DIR": str(tmp_path / "gradio")}
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_up(url, proc)
        for user, password in (("teacher", "pw1"), ("class", "pw2")):
            assert httpx.post(url + "login", data={"username": user, "password": password}).status_code == 200
        assert httpx.post(url + "login", data={"username": "class", "password": "pw1"}).status_code == 400
        teacher = Client(url, auth=("teacher", "pw1"), verbose=False)
        end = time.monotonic() + 60
        while "tiny-qwen2" not in str(teacher.predict("zh", api_name="/manager_status")[1]):
            assert time.monotonic() < end, "STUDIO_PRELOAD=tiny-qwen2 was not loaded"
            time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(30)


def test_list_settings_split_on_commas_only(studio_env):
    s = configure(["--auth", "teacher:pw1", "--operators", "teacher"], env={"STUDIO_PRELOAD": "sd15,qwen2.5-0.5b"})
    assert accounts.logins() == {"teacher": "pw1"} and s.preload == ["sd15", "qwen2.5-0.5b"]
    s = configure([], env={"STUDIO_AUTH": "teacher:pw1,class:p:w:2", "STUDIO_DEVICE": "cuda:0"})
    assert accounts.logins() == {"teacher": "pw1", "class": "p:w:2"} and s.device == "cuda:0"
    assert configure([], env={"STUDIO_MODEL_DIRS": f"a{os.pathsep}b,c"}).model_dirs == ["a", "b", "c"]  # paths only
    with pytest.raises(SystemExit, match="STUDIO_AUTH: 'teacher' is not user:password"):
        configure([], env={"STUDIO_AUTH": "teacher"}) and accounts.logins()


def test_a_generated_class_list_logs_each_learner_in(studio_env, tmp_path, capsys):
    """`python -m studio.core.accounts FILE --count 3` writes STUDIO_AUTH_FILE's format and prints the slips."""
    path = tmp_path / "class.txt"
    assert accounts.main([str(path), "--count", "3"]) == 0
    made = accounts.read_file(path)
    assert list(made) == ["teacher", "s01", "s02", "s03"] and len(set(made.values())) == 4
    assert all(len(pw) == 8 for pw in made.values()) and made["s02"] in capsys.readouterr().out
    assert accounts.main([str(path), "--count", "3"]) == 2  # never overwrites a handed-out list by accident
    studio_env(STUDIO_AUTH_FILE=str(path), STUDIO_OPERATORS="teacher")
    with served() as (url, _demo):
        ok = httpx.post(url + "login", data={"username": "s02", "password": made["s02"]})
        wrong = httpx.post(url + "login", data={"username": "s02", "password": made["s01"]})
        assert ok.status_code == 200 and wrong.status_code == 400


def test_a_group_login_is_told_apart_by_browser_and_a_personal_one_by_name(studio_env, tmp_path):
    from studio.core import files
    studio_env(STUDIO_AUTH="teacher:t,class1:a,s01:b,s02:c", STUDIO_OPERATORS="teacher", STUDIO_SHARED_LOGINS="class1")
    made = {}
    for user in ("class1", "s01"):
        made[user] = files.root() / f"{user}.png"
        made[user].parent.mkdir(parents=True, exist_ok=True)
        made[user].write_bytes(b"png")
        files.record(made[user], files.Who(user, "browser-1", operator=False))
    other_browser = {user: files.Who(user, "browser-2", operator=False) for user in made}
    assert not files.may_open(made["class1"], other_browser["class1"])  # a classmate on the group account
    assert files.may_open(made["s01"], other_browser["s01"])  # s01 on their phone
    assert not files.may_open(made["s01"], other_browser["class1"])


def test_learners_are_refused_every_operator_action_through_the_client_and_raw_http(class_server, models_dir):
    downloaded = models_dir / "clip-vit-b32"  # as a finished download leaves it
    downloaded.mkdir()
    (downloaded / "config.json").write_text("{}")
    alice = Client(class_server, auth=("alice", "pa"), verbose=False)
    for endpoint, args in OPERATOR_ENDPOINTS.items():
        with pytest.raises(Exception, match="只有老师"):
            alice.predict(*args, "zh", api_name=endpoint)
    with pytest.raises(Exception, match="下载由老师"):  # nor does a model not on disk download for a learner's run
        alice.predict("a red circle", "", "sd15", "Euler", 2, 7, 1, 64, 64, 1, api_name="/generate_image")
    bob = _login(class_server, "bob", "pb")
    for endpoint, args in OPERATOR_ENDPOINTS.items():
        kind, said = _call(bob, endpoint.strip("/"), *args)
        assert kind == "error" and "只有老师" in said["error"], (endpoint, said)
    assert (downloaded / "config.json").is_file()  # the learners' deletes removed nothing
    teacher = Client(class_server, auth=("teacher", "pt"), verbose=False)
    teacher.predict("clip-vit-b32", "zh", api_name="/delete")
    assert not downloaded.exists()
    teacher.predict("zh", api_name="/unload_all")


def test_without_login_the_local_user_is_the_operator_but_not_on_a_public_address(studio_env, caplog):
    from tabs import access, server
    request = None
    studio_env()  # 127.0.0.1, no login: a laptop
    assert access.is_operator(request)
    studio_env(GRADIO_SERVER_NAME="0.0.0.0")
    assert not access.is_operator(request)
    with caplog.at_level(logging.WARNING, logger="studio"):
        server.warn_if_open()
    assert "no login on a public address" in caplog.text
    studio_env(GRADIO_SERVER_NAME="127.0.0.1", STUDIO_SHARE="1")  # a share link is public too
    assert not access.is_operator(request)
    studio_env(GRADIO_SERVER_NAME="0.0.0.0", STUDIO_OPERATOR_VIEW="1")
    assert access.is_operator(request)
    api.unload_all()  # studio.api from Python is not role-checked


def test_a_public_server_without_login_refuses_operator_actions(studio_env):
    studio_env(GRADIO_SERVER_NAME="0.0.0.0")  # the setting decides; the test still listens on 127.0.0.1 only
    with served(server_name="127.0.0.1") as (url, _demo):
        with pytest.raises(Exception, match="只有老师"):
            Client(url, verbose=False).predict("zh", api_name="/unload_all")


def test_only_the_owner_or_the_teacher_cancels_a_run(class_server):
    """A cancel with alice's session hash but no login, or bob's login, does not end her run; the teacher's passes."""
    alice = Client(class_server, auth=("alice", "pa"), verbose=False)
    args = ("a red circle", "", "tiny-sd15", "Euler", 30, 7, 1, 64, 64, 1)
    body = {"session_hash": alice.session_hash, "fn_index": alice._infer_fn_index("/generate_image", None),
            "event_id": "x"}
    job = _running(alice.submit(*args, api_name="/generate_image"))
    anonymous = httpx.post(class_server + "gradio_api/cancel", json=body)
    assert anonymous.status_code == 401 and "请先登录" in anonymous.json()["detail"]
    bob = _login(class_server, "bob", "pb")
    other = bob.post("/gradio_api/cancel", json=body)
    assert other.status_code == 403 and "只能停止你自己的任务" in other.json()["detail"]
    assert job.result(timeout=300)[1] == "1"  # her run went on to its picture
    teacher = _login(class_server, "teacher", "pt")
    assert teacher.post("/gradio_api/cancel", json=body).status_code == 200  # the operator may stop any run


def _running(job):
    end = time.monotonic() + 60
    while job.status().code.name != "PROCESSING":
        assert time.monotonic() < end, "the run did not start"
        time.sleep(0.05)
    return job


def test_repeated_wrong_passwords_are_slowed(class_server, studio_env):
    codes = [httpx.post(class_server + "login", data={"username": "alice", "password": "guess"}).status_code
             for _ in range(30)]
    assert codes[:5] == [400] * 5 and set(codes[5:]) == {429}
    locked = httpx.post(class_server + "login", data={"username": "alice", "password": "pa"})
    assert locked.status_code == 429 and "秒后再试" in locked.json()["detail"]  # even the right one, while locked
    assert httpx.post(class_server + "login", data={"username": "bob", "password": "pb"}).status_code == 200


def test_nothing_of_the_api_before_login(class_server):
    page = httpx.get(class_server)
    assert page.status_code == 200 and "auth_required" in page.text
    assert "generate_image" not in page.text and "gradio_api_info = null" in page.text
    for path in ("gradio_api/info", "config", "gradio_api/openapi.json"):
        assert httpx.get(class_server + path).status_code == 401
    assert "generate_image" in _login(class_server, "alice", "pa").get("/").text


@pytest.mark.slow
def test_the_page_shows_model_actions_to_the_teacher_only(class_server, tmp_path):
    """Log in through the login form in Chromium; the 模型管理 tab's buttons are the teacher's, a learner reads why."""
    from playwright.sync_api import sync_playwright

    from tests.test_browser import CHROMIUM_ARGS, _chromium
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        for user, password, sees_actions in (("alice", "pa", False), ("teacher", "pt", True)):
            tab = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()  # its own cookies
            tab.set_default_timeout(60_000)
            tab.goto(class_server)
            tab.get_by_label("username").fill(user)
            tab.get_by_label("password").fill(password)
            tab.get_by_role("button", name="Login").click()
            tab.get_by_role("tab", name="模型管理").click()
            note, delete = tab.get_by_text("模型由老师管理"), tab.get_by_role("button", name="删除文件")
            (delete if sees_actions else note).wait_for()
            tab.screenshot(path=str(tmp_path / f"models-{user}.png"))
            assert delete.is_visible() == sees_actions and note.is_visible() != sees_actions
        browser.close()
