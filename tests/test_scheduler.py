"""The fair scheduler on its own (studio.core.scheduler): round-robin turns, the per-learner cap, the operator first,
pause / resume, stops, errors, estimates, and no deadlock when a model's one-run lock is held across a turn.

Jobs here are threads doing fake work (sleeps) between the polls real engines make (`ticket.is_set()` between
steps, `end_turn` between pictures); the order is read from the scheduler's own record."""
from __future__ import annotations

import threading
import time

import pytest

from studio.core.errors import StudioError
from studio.core.manager import _take
from studio.core.scheduler import Scheduler, Ticket, end_turn, model_taken


def job(scheduler: Scheduler, ticket: Ticket, units: int = 1, unit_seconds: float = 0.01, per_unit_turn=False,
        results: dict | None = None):
    """Start a thread running `units` steps of work as `ticket`; each step polls the stop flag as engines do."""
    def work():
        for i in range(units):
            if i and per_unit_turn:
                end_turn(ticket)
            if ticket.is_set():
                raise StudioError("stopped")
            time.sleep(unit_seconds)
        return ticket.owner

    def body():
        try:
            out = scheduler.run(ticket, work)
        except StudioError as err:
            out = err.key
        if results is not None:
            results[ticket.id] = out

    scheduler.admit(ticket)  # in line now, in this order
    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread


def holding(scheduler: Scheduler, owner: str, **job) -> tuple[Ticket, threading.Event]:
    """A job on the device until the returned Event is set (what the others do meanwhile is the test)."""
    gate = threading.Event()
    holder = Ticket(owner, **job)
    scheduler.admit(holder)
    threading.Thread(target=scheduler.run, args=(holder, gate.wait), daemon=True).start()
    wait_for(lambda: holder.started is not None)
    return holder, gate


def wait_for(condition, seconds: float = 20.0) -> None:
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.005)


def grants(scheduler: Scheduler) -> list[tuple[str, int, str]]:
    return [(event, ticket_id, owner) for _t, event, ticket_id, owner in scheduler.record.events
            if event in ("start", "resume")]


def turns_before_start(scheduler: Scheduler, ticket: Ticket) -> list[str]:
    """The owners of the turns granted after `ticket` joined the line and before its first turn."""
    events = list(scheduler.record.events)
    joined = next(i for i, e in enumerate(events) if e[1] == "submit" and e[2] == ticket.id)
    started = next(i for i, e in enumerate(events) if e[1] == "start" and e[2] == ticket.id)
    return [e[3] for e in events[joined:started] if e[1] in ("start", "resume")]


def test_a_single_picture_waits_one_turn_per_other_learner_whatever_the_backlogs():
    """A batch-of-64 learner (a turn per picture), a LoRA trainer (time-sliced turns) and a learner with two jobs:
    each one-picture learner starts after at most one turn of each other learner."""
    s = Scheduler(turn_seconds=0.03, user_queue=2)
    blocker = Ticket("blocker")
    threads = [job(s, blocker, units=20, unit_seconds=0.005)]  # on the device while the class arrives
    wait_for(lambda: blocker.started is not None)
    threads.append(job(s, Ticket("batch64"), units=64, unit_seconds=0.004, per_unit_turn=True))
    threads.append(job(s, Ticket("lora"), units=200, unit_seconds=0.002))
    threads += [job(s, Ticket("two"), units=10), job(s, Ticket("two"), units=10)]
    singles = [Ticket(f"learner{i}") for i in range(5)]
    threads += [job(s, t, units=3) for t in singles]
    for thread in threads:
        thread.join(30)
    assert all(not t.is_alive() for t in threads)
    for ticket in singles:
        before = turns_before_start(s, ticket)
        others = {o for o in before if o != ticket.owner}
        assert len(before) == len(others), before  # nobody had two turns while this learner waited
        assert ticket.owner not in before
    # and the backlogs really were cut into turns: the batch had a turn per picture while others waited
    assert sum(1 for e, _i, o in grants(s) if o == "batch64") > 1
    assert sum(1 for e, _i, o in grants(s) if o == "lora") > 1


def test_fifo_is_the_old_single_line():
    """The benchmark's baseline: one line, each job to its end (a single picture waits behind the whole batch)."""
    s = Scheduler(turn_seconds=0.01, policy="fifo")
    batch, single = Ticket("batch"), Ticket("single")
    threads = [job(s, batch, units=30, unit_seconds=0.003, per_unit_turn=True), job(s, single)]
    for thread in threads:
        thread.join(10)
    assert [o for _e, _i, o in grants(s)] == ["batch", "single"]


def test_each_learner_may_have_user_queue_jobs_waiting_then_a_message():
    s = Scheduler(user_queue=2)
    holder, gate = holding(s, "a")
    s.admit(Ticket("a"))
    s.admit(Ticket("a"))  # two waiting besides the running one
    with pytest.raises(StudioError) as err:
        s.admit(Ticket("a"))
    assert err.value.key == "queue_user_full"
    assert "2 个任务" in err.value.message("zh") and "2 jobs waiting" in err.value.message("en")
    s.admit(Ticket("b"))  # another learner is not affected
    s.admit(Ticket("teacher", operator=True))
    s.admit(Ticket("teacher", operator=True))
    s.admit(Ticket("teacher", operator=True))  # the operator is never refused
    gate.set()


def test_the_queue_size_caps_everyone_but_the_operator():
    s = Scheduler(user_queue=5, queue_size=3)
    for owner in "abc":
        s.admit(Ticket(owner))
    with pytest.raises(StudioError) as err:
        s.admit(Ticket("d"))
    assert err.value.key == "queue_full"
    s.admit(Ticket("t", operator=True))


def test_the_operator_goes_first_and_pause_holds_only_the_class():
    s = Scheduler(turn_seconds=10)
    holder, gate = holding(s, "a")
    results: dict = {}
    learner = Ticket("b")
    threads = [job(s, learner, results=results)]
    wait_for(lambda: learner.waiting)
    s.pause()
    teacher = Ticket("teacher", operator=True)
    threads.append(job(s, teacher, results=results))
    wait_for(lambda: teacher.waiting)
    assert s.place(teacher)[0] == 1 and s.place(learner)[0] == 2  # the demo is next after the running one
    gate.set()
    wait_for(lambda: teacher.id in results)
    time.sleep(0.1)
    assert learner.started is None  # paused: the class waits
    s.resume()
    for thread in threads:
        thread.join(5)
    assert results == {teacher.id: "teacher", learner.id: "b"}
    order = [o for _e, _i, o in grants(s)]
    assert order.index("teacher") < order.index("b")


def test_a_stop_takes_a_waiting_job_out_and_touches_no_other():
    s = Scheduler()
    holder, gate = holding(s, "a")
    results: dict = {}
    mine, theirs = Ticket("b"), Ticket("c")
    threads = [job(s, mine, results=results), job(s, theirs, results=results)]
    wait_for(lambda: mine.waiting and theirs.waiting)
    mine.set()
    threads[0].join(5)
    assert results == {mine.id: "stopped"} and s.place(theirs)[0] == 1  # only the running one before it
    gate.set()
    threads[1].join(5)
    assert results[theirs.id] == "c" and not theirs.is_set() and not holder.is_set()


def test_a_job_that_raises_frees_its_turn_at_once():
    s = Scheduler()
    failing = Ticket("a")

    def boom():
        raise RuntimeError("engine error")
    with pytest.raises(RuntimeError):
        s.run(failing, boom)
    results: dict = {}
    job(s, Ticket("b"), results=results).join(5)
    assert list(results.values()) == ["b"] and s.idle()


def test_a_waiting_learner_is_told_their_place_and_an_estimate_from_measured_step_times():
    s = Scheduler(turn_seconds=100, nominal=lambda model: 0.5)
    s.run(Ticket("warm", model="m", work=10), lambda: time.sleep(0.5))  # a model's first job loads it: not counted
    assert s.seconds_per_unit("m") == 0.5
    s.run(Ticket("warm", model="m", work=10), lambda: time.sleep(0.2))  # measured: 0.02 s per unit of "m"
    assert s.seconds_per_unit("m") == pytest.approx(0.02, rel=0.5)
    assert s.seconds_per_unit("cold") == 0.5  # never run here: the nominal figure
    holder, gate = holding(s, "a", model="cold", work=4)
    queued = [Ticket(o, model="m", work=100) for o in "bcd"]
    for ticket in queued:
        s.admit(ticket)
        threading.Thread(target=s.run, args=(ticket, lambda: None), daemon=True).start()
    wait_for(lambda: all(t.waiting for t in queued))
    ahead, seconds = s.place(queued[2])
    assert ahead == 3  # the running job and two before it
    assert seconds == pytest.approx(2 + 2 * 100 * s.seconds_per_unit("m"), rel=0.3)  # holder's 2 s left + 2 jobs
    rows = s.snapshot()
    assert [r["state"] for r in rows] == ["running", "waiting", "waiting", "waiting"]
    assert [r["learner"] for r in rows] == ["a", "b", "c", "d"]
    gate.set()


def test_a_by_unit_job_checking_its_input_is_shown_its_place_and_the_pause():
    """An image job joins the line, then checks its input (and may load a tokenizer) before it asks for its first
    unit: meanwhile its page and the operator's view show it in line, not nowhere."""
    from tabs.runner import waiting_text
    s = Scheduler(turn_seconds=100)
    holder, gate = holding(s, "a", work=1)
    checking = Ticket("b", work=1, by_unit=True)
    s.admit(checking)  # admitted; run() has not reached its first unit yet
    assert not checking.waiting and s.place(checking)[0] == 1  # behind the running one
    assert [r["state"] for r in s.snapshot()] == ["running", "waiting"]
    s.pause()
    assert waiting_text(checking, "zh").startswith("排队中：老师暂停了课堂队列")
    assert waiting_text(checking, "en").startswith("Waiting: the teacher paused the class queue")
    s.resume()
    assert waiting_text(checking, "zh").startswith("排队中：前面还有 1 个任务")
    gate.set()


def test_no_deadlock_when_a_turn_ends_inside_a_models_one_run_lock():
    """A job whose turn ended mid-run still holds its model's run lock; the next job needs the same model: it steps
    aside (the device goes back) instead of waiting for ever on the lock while holding the device."""
    s = Scheduler(turn_seconds=0.02)
    model_lock = threading.Lock()
    results: dict = {}

    def with_model(ticket, steps):
        def work():
            _take(model_lock)
            try:
                for _ in range(steps):
                    if ticket.is_set():
                        raise StudioError("stopped")
                    time.sleep(0.005)
            finally:
                model_lock.release()
            return ticket.owner
        return work

    tickets = [Ticket(o) for o in "abc"]
    threads = []
    for ticket in tickets:
        s.admit(ticket)
        threads.append(threading.Thread(target=lambda t=ticket: results.update({t.id: s.run(t, with_model(t, 40))}),
                                        daemon=True))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(results.values()) == ["a", "b", "c"]
    assert any(e[1] == "aside" for e in s.record.events)  # the deadlock it avoided did come up


def test_a_python_script_without_a_ticket_runs_at_once():
    """studio.api from a script passes a plain Event (or None): nothing waits, nothing yields."""
    stop = threading.Event()
    end_turn(stop)
    end_turn(None)
    assert not stop.is_set()


def test_a_job_for_a_model_another_job_holds_mid_run_is_not_given_the_device():
    """A long run (a LoRA training) holds its model's one-run lock through its turns: when its turn ends, the device
    goes to a job for another model, not to one for the same model (which could only step aside, and a line of
    them would pass the lock along as a convoy); those wait until the run lets the model go."""
    s = Scheduler(turn_seconds=0.02)
    model_lock = threading.Lock()
    results: dict = {}

    def training(ticket):
        def work():
            _take(model_lock)
            model_taken("shapes", True)
            try:
                for _ in range(60):
                    if ticket.is_set():
                        raise StudioError("stopped")
                    time.sleep(0.005)
            finally:
                model_taken("shapes", False)
                model_lock.release()
            return "trained"
        return work

    def picture(ticket, model):
        def work():
            if model == "shapes":
                _take(model_lock)
                model_taken("shapes", True)
                model_taken("shapes", False)
                model_lock.release()
            return model
        return work

    lora = Ticket("lora", model="shapes")
    s.admit(lora)
    threads = [threading.Thread(target=lambda: results.update(lora=s.run(lora, training(lora))), daemon=True)]
    threads[0].start()
    wait_for(lambda: lora.started is not None)
    same, other = Ticket("same", model="shapes"), Ticket("other", model="poem")
    for ticket in (same, other):
        s.admit(ticket)
        run = lambda t=ticket: results.update({t.owner: s.run(t, picture(t, t.model))})  # noqa: E731
        threads.append(threading.Thread(target=run, daemon=True))
        threads[-1].start()
    for thread in threads:
        thread.join(20)
    assert results == {"lora": "trained", "same": "shapes", "other": "poem"}
    events = [(e[1], e[3]) for e in s.record.events]
    assert ("aside", "same") not in events  # never given the device while the training held the model
    assert events.index(("start", "other")) < events.index(("end", "lora")) < events.index(("start", "same"))
