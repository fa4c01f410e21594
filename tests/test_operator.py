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
    summary, _running, waiting = operator.snapshot(demo, "zh", _request("teacher"))
    rows = {row[2]: row for row in waiting.values.tolist()}  # job, place, tab, learner, ...
    assert {"文生图", "文生视频"} <= set(rows) and f"排队中 {len(waiting)} 个任务" in summary
    assert rows["文生图"][3] == "a · sess-a" and rows["文生视频"][3] == "b · sess-b"
    message = operator.cancel(rows["文生视频"][0], "zh", _request("teacher"))
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


def test_an_operator_stops_a_waiting_job_and_the_others_go_on(studio_env):
    """A real server: the device is busy, two learners' images wait in the scheduler; the operator stops the second
    by its number from the waiting table: it leaves the line at once and its learner gets a message, while the
    first runs to its own picture."""
    from gradio_client import Client

    from tests.test_fair_queue import Hold, waiting
    studio_env(STUDIO_AUTH="teacher:pw1", STUDIO_OPERATORS="teacher")
    with served(auth=None) as (url, demo):  # the teacher's login is the operator check's, not the clients'
        args = ("a red circle", "", "mini-shapes", "Euler", 4, 7)
        hold = Hold()
        first = Client(url, verbose=False).submit(*args, 1, 64, 64, 1, api_name="/generate_image")
        _until(lambda: len(waiting()) == 1)
        second = Client(url, verbose=False).submit(*args, 2, 64, 64, 1, api_name="/generate_image")
        _until(lambda: len(waiting()) == 2)
        with pytest.raises(gr.Error):
            operator.snapshot(demo, "zh", _request("pupil"))
        _summary, _running, queued = operator.snapshot(demo, "zh", _request("teacher"))
        assert list(queued.iloc[:, 1]) == [1, 2]  # places in line
        said = operator.cancel(int(queued.iloc[1, 0]), "zh", _request("teacher"))
        assert "停止" in said
        with pytest.raises(Exception, match="已停止"):
            second.result(timeout=60)
        assert len(waiting()) == 1
        hold.release()
        assert first.result(timeout=300)[1] == "1"


def _until(condition, seconds: float = 60) -> None:
    import time
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def test_the_operator_view_names_each_jobs_tab_in_the_page_language(studio_env):
    """A quick model event (the next-token bars, 实时) by its tab, not its api_name, on either page; a run of a tab's
    part by the tab and the part."""
    from tabs import runner
    runner.schedule_model_events(app.build_demo(), "gpu")
    assert operator._tab("token_distribution", "zh") == "文本生成"
    assert operator._tab("melody_next_note", "en") == "Music"
    assert operator._tab("grid", "zh") == "文生图 · X/Y 网格" and operator._tab("music", "zh") == "音乐生成"
    assert operator._tab("load", "en") == "Models · model load"
