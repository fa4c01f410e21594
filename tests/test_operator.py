"""The operator view: only operators see or use it; it lists running jobs and stops the one asked for only."""
from __future__ import annotations

import asyncio
import types

import gradio as gr
import pytest

import app
from tabs import operator
from tabs.runner import JOBS, Stops, stream
from tests.serving import served


def _request(user=None, session="abcdef123456"):
    return types.SimpleNamespace(username=user, session_hash=session)


def test_only_operators_see_and_use_it(studio_env):
    studio_env(STUDIO_AUTH="teacher:pw1,pupil:pw2", STUDIO_OPERATORS="teacher")
    demo = app.build_demo()
    assert operator.is_operator(_request("teacher")) and not operator.is_operator(_request("pupil"))
    assert not operator.is_operator(_request(None))
    with pytest.raises(gr.Error):
        operator.snapshot(demo, "zh", _request("pupil"))
    with pytest.raises(gr.Error):
        operator.cancel(1, "zh", _request("pupil"))
    studio_env(STUDIO_AUTH="teacher:pw1,pupil:pw2", STUDIO_OPERATORS="teacher", STUDIO_OPERATOR_VIEW="1")
    assert not operator.is_operator(_request("pupil"))  # with login, only the named operators
    studio_env(GRADIO_SERVER_NAME="0.0.0.0", STUDIO_OPERATOR_VIEW="1")
    assert operator.is_operator(_request(None))  # no login on a public address: only by the server's opt-in


def test_it_lists_running_jobs_and_stops_only_the_chosen_one(studio_env):
    studio_env(STUDIO_AUTH="teacher:pw1", STUDIO_OPERATORS="teacher")
    demo = app.build_demo()
    mine, other = Stops("image").start(_request("a", "sess-a")), Stops("video").start(_request("b", "sess-b"))
    summary, running, _waiting = operator.snapshot(demo, "zh", _request("teacher"))
    rows = {row[1]: row for row in running.values.tolist()}
    assert {"image", "video"} <= set(rows) and f"正在运行 {len(running)} 个" in summary
    message = operator.cancel(rows["video"][0], "zh", _request("teacher"))
    assert "停止" in message and other.is_set() and not mine.is_set()
    assert "没有" in operator.cancel(999999, "zh", _request("teacher"))
    JOBS.done(mine)
    JOBS.done(other)


def test_a_finished_run_leaves_the_list():
    stop = Stops("text").start(_request("a"))
    assert any(j.stop is stop for j in JOBS.running())

    async def results():
        return [r async for r in stream(lambda preview, s, progress: 42, stop, None)]
    assert asyncio.run(results()) == [("done", 42)] and not any(j.stop is stop for j in JOBS.running())


def test_an_operator_takes_a_waiting_request_out_of_the_queue(studio_env):
    """A real server: one learner's image runs, a second waits; the operator cancels the waiting one, which gets a
    message instead of a result, while the running one finishes with its own picture."""
    import asyncio

    from gradio_client import Client

    from studio import api
    studio_env(STUDIO_AUTH="teacher:pw1", STUDIO_OPERATORS="teacher")
    with served(auth=None) as (url, demo):  # the teacher's login is the operator check's, not the clients'
        api.load("tiny-sd15")
        args = ("a red circle", "", "tiny-sd15", "Euler", 40, 7)
        first = Client(url, verbose=False).submit(*args, 1, 64, 64, 1, api_name="/generate_image")
        _until(lambda: JOBS.running())
        second = Client(url, verbose=False).submit(*args, 2, 64, 64, 1, api_name="/generate_image")
        _until(lambda: operator._waiting(demo))
        request_id = operator._waiting(demo)[0][0]
        # no match: nothing touched
        assert "没有" in asyncio.run(operator.drop(demo, "zzzz", "zh", _request("teacher")))
        with pytest.raises(gr.Error):
            asyncio.run(operator.drop(demo, request_id, "zh", _request("pupil")))
        loop = next(iter(demo._queue._asyncio_tasks)).get_loop()  # the server's loop, where the UI's handler runs
        said = asyncio.run_coroutine_threadsafe(operator.drop(demo, request_id, "zh", _request("teacher")),
                                                loop).result(30)
        assert request_id in said and operator._waiting(demo) == []
        with pytest.raises(Exception, match="老师取消了你排队中的请求"):
            second.result(timeout=60)
        assert first.result(timeout=300)[1] == "1"


def _until(condition, seconds: float = 60) -> None:
    import time
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)
