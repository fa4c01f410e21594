"""The fair scheduler: every model job from the page waits here for its turns on the device.

A class of 30-40 learners presses 生成 within the same minute. One first-in-first-out line would make one learner's
batch of 8, X/Y grid or LoRA training hold everyone for minutes; here the device goes round the learners instead:

- **Fair turns.** The next turn goes to the next learner (login + browser) in a rotation of those with work waiting,
  so a learner waits behind at most one turn of each other learner, never behind another's backlog. A learner's own
  jobs run in the order they came.
- **Turns.** A job holds the device for one turn: until a unit of its work ends (`end_turn`: a picture of a batch
  count, a grid cell) or, for a job not made of such units (a video, a LoRA training, a text), until `turn_seconds`
  have passed at its next step. Engines already poll their stop flag between
  steps, tokens and cells; the job's `Ticket` *is* that flag, so `is_set()` is where a long job hands the device
  to whoever waits and waits for its next turn. A job nobody waits behind runs on.
- **Limits.** At most `user_queue` waiting jobs per learner and `queue_size` in all; the operator's jobs go first and
  are never refused; the operator may pause the class's jobs (their own still run) and stop any job.
- **Merged calls.** A job that takes the device per unit of its work (`by_unit`: the image tab's pictures, a grid's
  cells) offers each unit as an `Offer`; when its turn comes, the jobs in line whose units have the same merge key
  ride along in the same device call (up to `max_merge` rows), each having its turn in it. A rider passes the jobs
  it skips only where each of them keeps its promise (at most one turn of each learner in line when its wait
  began; `_mergeable`), so merging never costs anyone a place in the round; it only makes the round shorter.
  Such a job joins the round at the click and checks its input before it offers its first unit: a turn that
  comes meanwhile waits for it (`_joining_ahead`), so the promise holds from the click.
- **Estimates.** Each model's seconds per unit of work (a denoising step of one picture, a token, a training step)
  are measured from the jobs it ran; before its first job, the registry's nominal `step_seconds` stands in. A
  waiting job's wait is the turns before its first one, simulated with those figures.

`policy="fifo"` is the single line the studio had before (no turns, no priority), kept as the benchmark's baseline.
The scheduler knows no Gradio: the page hands it jobs (tabs/runner.py); a Python script calling studio.api directly
does not come here and runs at once.
"""
from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field

from studio.core import backend
from studio.core.errors import StudioError


_ids = itertools.count(1)
LINE_SECONDS = 0.25  # the longest a computed line is reused while the running turn goes on
JOIN_SECONDS = 2.0  # the longest the device waits for a job ahead in the round that is still checking its input
_local = threading.local()  # .ticket: the job whose turn this thread last began


class Ticket(threading.Event):
    """One job: its stop flag (set = stop it) and its place in the scheduler's line.

    Engines poll `is_set()` between steps; while the job holds the device that poll is also where its turn may end
    (`Scheduler.checkpoint`): it returns once the job has the device again, or True when it was stopped meanwhile.
    Anywhere else (another thread, a job not yet admitted) it is a plain Event."""

    def __init__(self, owner: str, *, learner: str = "", operator: bool = False, what: str = "", model: str = "",
                 work: float = 1.0, turn_work: float | None = None, size: str = "", lang: str = "zh",
                 by_unit: bool = False):
        super().__init__()
        self.id = next(_ids)
        self.owner, self.learner, self.operator = owner, learner or owner, operator
        self.what, self.model, self.work, self.size, self.lang = what, model, max(float(work), 1e-9), size, lang
        self.turn_work = turn_work  # the work of one natural turn (a picture, a grid cell), for estimates
        self.submitted = time.monotonic()
        self.started: float | None = None  # first turn
        self.used = 0.0  # device seconds so far
        self.turns = 0
        self.waiting = False  # in line for a turn (first or next)
        self.scheduler: Scheduler | None = None
        # Takes the device only for its units of work (`merged`), or when it first asks the model manager for a
        # model (`claim_device`): checking its input never waits in line, and its units may share a call.
        self.by_unit = by_unit
        self.offer: Offer | None = None  # the unit it waits to run
        self.riding: Ticket | None = None  # the job whose device call carries its unit now
        self.carrying = False  # running a call with other jobs' units: no turn ends inside it
        self.since = 0.0  # when its current wait for a turn began
        self.passed: set[str] = set()  # the learners granted a turn during that wait (see `_mergeable`)
        # Sent to a Ray worker (studio.core.backend): its turns are taken in the replica's line, which reports
        # its place there (None once it runs); `worker` names the replica.
        self.remote = False
        self.remote_place: tuple[int, float] | None = None
        self.worker: dict | None = None

    def is_set(self) -> bool:
        if self.scheduler is not None and not super().is_set():
            self.scheduler.checkpoint(self)
        return super().is_set()

    def set(self) -> None:
        super().set()
        if self.scheduler is not None:
            self.scheduler.wake()  # a waiting job leaves the line at once


def end_turn(stop) -> None:
    """A unit of work ended (a picture of a batch count, a grid cell): hand the device on if someone waits.
    Nothing for a plain Event or None (a Python script's call)."""
    if isinstance(stop, Ticket) and stop.scheduler is not None:
        stop.scheduler.checkpoint(stop, force=True)


@dataclass(eq=False)
class Offer:
    """A unit of a job's work (a picture of a batch count, a grid cell) that may share one device call with the
    units of other learners' jobs: `rows` rows of a batch, `payload` what the engine needs for them. Units with
    equal `key`s can run as one call; None: always alone."""
    key: object
    rows: int
    payload: object
    solo: bool = False  # a merged call failed: this unit runs alone
    leader: Ticket | None = None  # the job whose call took it along
    job: Ticket | None = None  # the job it is a unit of
    done: threading.Event = field(default_factory=threading.Event)
    outcome: object = None  # its result, or the exception its job raises


_RETRY = object()  # a merged call failed and could not tell its rows apart: run this unit alone


def merged(stop, offer: Offer, call):
    """This unit's result of `call(offers) -> [result or exception per offer]`.

    A Python script's call (no scheduled Ticket) runs alone, at once. A page job runs it in its turn, taking along
    the units of other learners' jobs that wait with the same key; or its unit rides in such a call of another job.
    A learner stopped while waiting or riding gets "stopped" at once (a unit already in a call is discarded)."""
    if isinstance(stop, Ticket) and stop.scheduler is not None:
        return stop.scheduler.unit(stop, offer, call)
    return _outcome(list(call([offer]))[0])


def _outcome(value):
    if isinstance(value, BaseException):
        raise value
    return value


def claim_device() -> None:
    """Device work is about to start in this thread (the model manager asks): a `by_unit` job that does not hold
    the device waits for its turn first, so nothing it does runs beside another job's turn."""
    job = getattr(_local, "job", None)
    if job is not None and _lazy(job) and job.scheduler is not None and not job.scheduler.holds(job):
        job.scheduler._acquire(job)


def model_taken(model: str, taken: bool) -> None:
    """The manager took (or let go of) `model`'s one-run lock for the job running in this thread: while another
    job holds it, a job for that model is not given the device (it could only step aside)."""
    ticket = getattr(_local, "ticket", None)
    if ticket is not None and ticket.scheduler is not None and ticket.scheduler.holds(ticket):
        ticket.scheduler.note_model(model, ticket if taken else None)


@contextmanager
def stepping_aside():
    """`with stepping_aside(): lock.acquire()`: while this job waits for something another job holds (a model's
    one-run-at-a-time lock, held by a job whose turn ended mid-run), the device goes to whoever waits; it takes its
    turn again afterwards. Without it the two would wait for each other for ever."""
    ticket = getattr(_local, "ticket", None)
    scheduler = ticket.scheduler if ticket is not None else None
    if scheduler is None or not scheduler.holds(ticket):
        yield
        return
    scheduler.step_aside(ticket)
    try:
        yield
    finally:
        scheduler._acquire(ticket)  # its turn again ("stopped" when it was stopped meanwhile)


@dataclass
class Record:
    """The scheduler's own account of what happened, for tests and the operator; with `path` (STUDIO_QUEUE_LOG) also
    one JSON line per event, for the class benchmark and for a teacher who wants to see who waited how long."""
    path: str = ""
    events: deque = field(default_factory=lambda: deque(maxlen=20000))  # (time, event, ticket id, owner)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, event: str, ticket: Ticket, **extra) -> None:
        now = time.monotonic()
        self.events.append((now, event, ticket.id, ticket.owner))
        if self.path:
            line = dict(t=round(now, 4), wall=round(time.time(), 3), event=event, job=ticket.id, owner=ticket.owner,
                        what=ticket.what, model=ticket.model, work=ticket.work, operator=ticket.operator, **extra)
            with self._lock, open(self.path, "a", encoding="utf-8") as out:
                out.write(json.dumps(line, ensure_ascii=False) + "\n")


class Scheduler:
    def __init__(self, turn_seconds: float = 5.0, user_queue: int = 2, queue_size: int = 100, policy: str = "fair",
                 nominal=None, log: str = "", max_merge: int = 8):
        self.turn_seconds = max(0.1, float(turn_seconds))  # a turn of 0 would never let a job move
        self.max_merge = max(1, int(max_merge))  # rows of one merged call; 1: no merging
        self.user_queue, self.queue_size, self.policy = user_queue, queue_size, policy
        self._nominal = nominal or _registry_step_seconds
        self._cond = threading.Condition()
        self._jobs: list[Ticket] = []  # admitted and not finished, in arrival order
        self._rotation: deque[str] = deque()  # learners whose turn comes, next first
        self._holder: Ticket | None = None
        self._holder_thread: int | None = None
        self._turn_began = 0.0
        self._rates: dict[str, float] = {}  # model -> measured seconds per unit of work
        self._warm: set[str] = set()  # models whose first job (its loading included) has been seen
        self._models: dict[str, Ticket] = {}  # model -> the job holding its one-run lock
        self.paused = False
        self.record = Record(log)
        self._line_cache: tuple | None = None  # (state, when, every waiting job's place)

    # -- a job's life --------------------------------------------------------------------------------------------
    def run(self, ticket: Ticket, call):
        """call() with the device, in turns (a `by_unit` job: for each unit, see `unit`); the ticket leaves the
        line however call ends."""
        self.admit(ticket)
        before, _local.job = getattr(_local, "job", None), ticket
        try:
            if not _lazy(ticket):
                self._acquire(ticket)
            return call()
        finally:
            _local.job = before
            self.leave(ticket)

    def admit(self, ticket: Ticket) -> None:
        """Join the line, or a message when it is full (the learner's share or the whole queue)."""
        with self._cond:
            if ticket.scheduler is self:
                return
            if not ticket.operator:
                mine = sum(1 for j in self._jobs if j.owner == ticket.owner and j is not self._holder)
                if mine >= self.user_queue:
                    raise StudioError("queue_user_full", limit=self.user_queue)
                if sum(1 for j in self._jobs if j is not self._holder) >= self.queue_size:
                    raise StudioError("queue_full")
            ticket.scheduler = self
            ticket.by_unit = ticket.by_unit and self.policy == "fair"  # the old line: one turn, start to end
            self._jobs.append(ticket)
            if ticket.owner not in self._rotation:
                self._rotation.append(ticket.owner)
            self.record.add("submit", ticket)

    def _acquire(self, ticket: Ticket, offer: Offer | None = None) -> bool:
        """Wait in line until this job's turn (True), or until another job's call took its `offer` along (False);
        "stopped" if it was stopped while it waited."""
        with self._cond:
            ticket.waiting, ticket.offer = True, offer
            ticket.since, ticket.passed = time.monotonic(), set()
            self._cond.notify_all()
            if self.record.path and ticket.turns == 0:  # the wait the learner is first shown, for the benchmark
                where = self.place(ticket)
                self.record.add("estimate", ticket, ahead=where[0], seconds=round(where[1], 3))
            try:
                while True:
                    if offer is not None and offer.leader is not None:
                        return False
                    if threading.Event.is_set(ticket):
                        raise StudioError("stopped")
                    if self._holder is None and self._pick() is ticket:
                        break
                    self._cond.wait(timeout=1.0)
            finally:
                ticket.waiting, ticket.offer = False, None
            self._grant(ticket)
            return True

    def _grant(self, ticket: Ticket) -> None:
        self._holder, self._holder_thread = ticket, threading.get_ident()
        _local.ticket = ticket
        self._turn_began = time.monotonic()
        if ticket.started is None:
            ticket.started = self._turn_began
        self._had_turn(ticket)
        self.record.add("start" if ticket.turns == 1 else "resume", ticket)

    def _had_turn(self, ticket: Ticket) -> None:
        ticket.turns += 1
        self._to_back(ticket.owner)  # this learner has their turn: to the back of the round
        for job in self._jobs:  # what each waiting job has seen pass (a learner may pass it once a wait)
            if job.waiting and job.owner != ticket.owner:
                job.passed.add(ticket.owner)

    def _to_back(self, owner: str) -> None:
        if owner in self._rotation:
            self._rotation.remove(owner)
            self._rotation.append(owner)

    def _release(self, ticket: Ticket) -> None:
        if self._holder is ticket:
            ticket.used += time.monotonic() - self._turn_began
            self._holder = self._holder_thread = None
            self._cond.notify_all()

    def withdraw(self, ticket: Ticket) -> None:
        """The page is done with the job (cancelled, closed): out of the line, unless it has the device. A job on
        the device leaves when its call returns, so a cancelled run finishing its step never runs beside the next."""
        with self._cond:
            if ticket is self._holder:
                return
        self.leave(ticket)

    # -- merged calls ----------------------------------------------------------------------------------------------
    def unit(self, ticket: Ticket, offer: Offer, call):
        """Run `call` for this job's unit in its turn, with the units taken along; or ride in another's (`merged`)."""
        offer.job = ticket
        if not self.holds(ticket) and not self._acquire(ticket, offer):
            return self._ride(ticket, offer, call)
        with self._cond:
            offers = [offer] + self._take_along(ticket, offer)
        try:
            return self._lead(ticket, offers, call)
        finally:
            for rider in offers[1:]:  # the call ended without answering them (an interrupt): they run alone
                if not rider.done.is_set():
                    rider.outcome = _RETRY
                    rider.done.set()
            if ticket.by_unit:  # the device goes on while this job saves its pictures and offers its next unit
                with self._cond:
                    if self._holder is ticket:
                        self.record.add("release", ticket)
                    self._release(ticket)

    def _take_along(self, leader: Ticket, offer: Offer) -> list[Offer]:
        """The units that ride in the leader's call (`_mergeable`): each has its turn now, in that call, and goes to
        the back of the round."""
        if self.policy != "fair" or offer.key is None or offer.solo:
            return []
        waiting = [j for j in self._jobs if j.waiting]
        taken = []
        for job in self._mergeable(offer, leader.owner, waiting, self._rotation, self.max_merge - offer.rows):
            rider = job.offer
            rider.leader = leader
            job.waiting, job.offer, job.riding = False, None, leader
            if job.started is None:
                job.started = time.monotonic()
            self._had_turn(job)
            self.record.add("start" if job.turns == 1 else "resume", job)
            self.record.add("merge", job, leader=leader.id)  # its turn is a ride in the leader's call
            taken.append(rider)
        if taken:
            self._cond.notify_all()
        return taken

    def _mergeable(self, offer: Offer, owner: str, waiting: list[Ticket], rotation, room: int) -> list[Ticket]:
        """The jobs that ride with `offer` (of `owner`): those in line with a unit of the same key that fits, in the
        order `_choose` gives turns, each learner's next job only (their own jobs keep their order).

        A rider further back in the round passes the jobs it skips. Each of those was promised at most one turn
        of each learner who was in line when its wait began, so a job rides past another only if it was in line
        before that one began waiting and its learner has not had a turn during that wait: the promise holds for
        everyone, and a merged call only makes the round shorter."""
        if self.paused:
            waiting = [j for j in waiting if j.started is not None or j.operator]
        chosen: list[Ticket] = []
        skipped: list[Ticket] = []
        first = _firsts(waiting)
        for job in [j for j in waiting if j.operator] + [first.get(o) for o in rotation]:
            if job is None or job.owner == owner or job in chosen or job in skipped or threading.Event.is_set(job):
                continue
            unit = job.offer
            fits = unit is not None and not unit.solo and unit.key is not None and unit.key == offer.key
            if fits and unit.rows <= room and all(_may_pass(job, other) for other in skipped):
                chosen.append(job)
                room -= unit.rows
            else:
                skipped.append(job)
        return chosen

    def _lead(self, ticket: Ticket, offers: list[Offer], call):
        began = time.monotonic()
        ticket.carrying = len(offers) > 1  # no turn ends inside a call that carries other jobs' units
        try:
            outcomes = list(call(offers))
        except StudioError as err:  # a message for every row (a model that cannot load): each learner gets it
            outcomes = [err] * len(offers)
        except Exception:
            if len(offers) == 1:
                raise
            outcomes = None
        finally:
            ticket.carrying = False
        if outcomes is None:  # the engine could not tell the rows apart: each unit runs again, alone
            with self._cond:
                self.record.add("unmerge", ticket)
            self._deliver(ticket, offers, [None] + [_RETRY] * (len(offers) - 1), began)
            offers[0].solo = True
            return _outcome(list(call(offers[:1]))[0])
        self._deliver(ticket, offers, outcomes, began)
        return _outcome(outcomes[0])

    def _deliver(self, leader: Ticket, offers: list[Offer], outcomes: list, began: float) -> None:
        """Each rider's outcome, and its share of the call's device time (by rows) for the estimates."""
        if len(offers) == 1:
            return
        elapsed, rows = time.monotonic() - began, sum(o.rows for o in offers)
        with self._cond:
            for rider, outcome in zip(offers[1:], outcomes[1:]):
                if outcome is not _RETRY:
                    share = elapsed * rider.rows / rows
                    rider.job.used += share
                    leader.used -= share
                rider.outcome, rider.job.riding = outcome, None
                rider.done.set()

    def _ride(self, ticket: Ticket, offer: Offer, call):
        """Wait for the call carrying this job's unit; a stop ends the wait at once (its rows are dropped)."""
        while not offer.done.wait(0.05):
            if threading.Event.is_set(ticket):
                ticket.riding = None
                raise StudioError("stopped")
        if offer.outcome is _RETRY:
            return self.unit(ticket, Offer(offer.key, offer.rows, offer.payload, solo=True), call)
        return _outcome(offer.outcome)

    def leave(self, ticket: Ticket) -> None:
        """The job is over (however it ended): out of the line, its turn freed."""
        with self._cond:
            self._release(ticket)
            if ticket not in self._jobs:
                return
            self._jobs.remove(ticket)
            for model in [m for m, holder in self._models.items() if holder is ticket]:
                del self._models[model]
            if ticket.started is not None and not threading.Event.is_set(ticket) and ticket.model and not ticket.remote:
                self._measure(ticket)  # a job sent to a cluster used no device here: its replica measures it
            if not any(j.owner == ticket.owner for j in self._jobs) and ticket.owner in self._rotation:
                self._rotation.remove(ticket.owner)
            ticket.waiting = False
            self.record.add("end", ticket)
            self._cond.notify_all()

    def _measure(self, ticket: Ticket) -> None:
        """The model's seconds per unit of work, from a finished job (a model's first job loads it: not counted)."""
        if ticket.model not in self._warm:
            self._warm.add(ticket.model)
            return
        rate = ticket.used / ticket.work
        old = self._rates.get(ticket.model)
        self._rates[ticket.model] = rate if old is None else 0.7 * old + 0.3 * rate

    def checkpoint(self, ticket: Ticket, force: bool = False) -> None:
        """The job's turn ends here when it has had its share and another learner waits; it waits for its next."""
        if self.policy != "fair" or threading.get_ident() != self._holder_thread:
            return  # a poll from another thread (the page), or a job without the device
        with self._cond:
            if self._holder is not ticket or ticket.carrying:
                return
            if not force and (ticket.turn_work is not None or time.monotonic() - self._turn_began < self.turn_seconds):
                return  # a job made of units (pictures, cells) hands on between them, never inside one
            nxt = self._pick(asking=ticket)
            if nxt is None or nxt.owner == ticket.owner:  # nobody else waits: run on, a fresh turn
                if not force:
                    now = time.monotonic()
                    ticket.used += now - self._turn_began  # device time stays counted for the estimates
                    self._turn_began = now
                return
            self.record.add("yield", ticket)
            self._to_back(ticket.owner)  # it had its turn: behind the learners who came meanwhile
            self._release(ticket)
        try:
            self._acquire(ticket)
        except StudioError:  # stopped while it waited: is_set() now says so and the engine ends the run
            pass

    def step_aside(self, ticket: Ticket) -> None:
        """The device goes back while this job waits for something another job holds (see stepping_aside)."""
        with self._cond:
            self.record.add("aside", ticket)
            self._release(ticket)

    def note_model(self, model: str, holder: Ticket | None) -> None:
        with self._cond:
            if holder is not None:
                self._models[model] = holder
            elif self._models.get(model) is not None:
                del self._models[model]
                self._cond.notify_all()

    def holds(self, ticket: Ticket) -> bool:
        return self._holder is ticket and threading.get_ident() == self._holder_thread

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    # -- who goes next ---------------------------------------------------------------------------------------------
    def _pick(self, asking: Ticket | None = None) -> Ticket | None:
        """The job whose turn is next among those waiting; `asking`: the holder, asking whether to hand on (the
        answer may be itself: run on).

        A job whose model another job holds mid-run (its one-run lock, kept through that job's turns) could only
        step aside if given the device, and a line of such jobs would pass the lock along as a convoy. So its turn
        goes to the lock's holder when that one waits for a turn, or lets the asker run on when the asker lets the
        model go at the end of its unit (a picture, a cell: `turn_work`); a holder that keeps the model to its end
        (a LoRA training) is not waited for: the turn goes to the next learner whose model is free."""
        waiting = [j for j in self._jobs if j.waiting and not threading.Event.is_set(j)]
        rotation = list(self._rotation)
        if asking is not None:  # the asker has had its turn: behind everyone, learners who came meanwhile too
            waiting = [j for j in self._jobs if j in waiting or j is asking]
            rotation = [o for o in rotation if o != asking.owner] + [asking.owner]

        def resolve(job: Ticket) -> Ticket | None:
            holder = self._models.get(job.model, job)
            if holder is job:
                return job
            lets_go_soon = holder.turn_work is not None and (holder is asking or holder.waiting)
            return holder if lets_go_soon else None

        chosen = self._choose(waiting, rotation, resolve)
        if chosen is not None and asking is None and self._joining_ahead(chosen, rotation):
            return None  # its turn is kept: it asks for it within milliseconds
        return chosen

    def _joining_ahead(self, chosen: Ticket, rotation) -> bool:
        """Whether a `by_unit` job that joined the round before `chosen`'s learner is still checking its input
        (it joins at the click, asks for its first unit after its check): giving the turn away now would let a
        learner who came after it go first. Waited for at most JOIN_SECONDS (a slow check does not stall the class)."""
        now, ahead = time.monotonic(), set(itertools.takewhile(lambda owner: owner != chosen.owner, rotation))
        first = _firsts([j for j in self._jobs if j.waiting or _joining(j, self._holder)])
        return any(_joining(job, self._holder) and now - job.submitted < JOIN_SECONDS
                   and (job.owner in ahead or (job.operator and not chosen.operator))
                   for job in first.values())

    def _choose(self, waiting: list[Ticket], rotation, resolve=lambda job: job) -> Ticket | None:
        if not waiting or self.policy != "fair":
            return waiting[0] if waiting else None
        operators = [j for j in waiting if j.operator]
        if self.paused:  # the class's jobs that have started finish; none starts
            waiting = [j for j in waiting if j.started is not None or j.operator]
        first = _firsts(waiting)  # a learner's own jobs in the order they came
        for job in operators + [first.get(owner) for owner in rotation]:  # a demo is never behind the class
            chosen = resolve(job) if job is not None else None
            if chosen is not None:
                return chosen
        return None

    # -- what the page shows -------------------------------------------------------------------------------------
    def seconds_per_unit(self, model: str) -> float:
        return self._rates.get(model) or self._nominal(model)

    def turn(self, ticket: Ticket, left: float) -> float:
        """Seconds of the job's next turn: until its unit of work ends or turn_seconds pass (fifo: to its end)."""
        if self.policy != "fair":
            return left
        unit = ticket.turn_work * self.seconds_per_unit(ticket.model) if ticket.turn_work else self.turn_seconds
        return min(left, self.turn_seconds, max(unit, 1e-3))

    def expected(self, ticket: Ticket) -> float:
        """Seconds of device time this job still needs (by its model's measured rate)."""
        return max(0.0, ticket.work * self.seconds_per_unit(ticket.model) - ticket.used)

    def place(self, ticket: Ticket) -> tuple[int, float] | None:
        """(jobs before this one's next turn, seconds until it), or None while it has the device or left the line."""
        with self._cond:
            if ticket.remote:
                return ticket.remote_place
            if ticket not in self._jobs or not _in_line(ticket, self._holder):
                return None
            return self._line().get(ticket.id)

    def _line(self) -> dict[int, tuple[int, float]]:
        """Every waiting job's place, from one simulation of the coming turns, kept while nothing in line changes
        for at most LINE_SECONDS: a class's pages ask twice a second each, and the device's thread needs the GIL."""
        state, now = self._state(), time.monotonic()
        if self._line_cache is not None and self._line_cache[0] == state and now - self._line_cache[1] < LINE_SECONDS:
            return self._line_cache[2]
        line = self._simulate(now)
        self._line_cache = (state, now, line)
        return line

    def _state(self) -> tuple:
        return (getattr(self._holder, "id", None), self._turn_began, self.paused, tuple(self._rotation),
                tuple((j.id, j.waiting, j.offer is not None, j.riding is not None, j.used) for j in self._jobs),
                tuple(self._rates.items()))

    def _simulate(self, now: float) -> dict[int, tuple[int, float]]:
        """The coming turns, each with its job's expected time: a turn is at most `turn_seconds` (fifo: the whole
        job), after which a job with work left waits again behind the learners after it; the units that would ride
        along in a turn's call (`_mergeable`) have their turn in it, and add their rows' time."""
        left = {j.id: self.expected(j) for j in self._jobs}
        seconds = 0.0
        waiting = [j for j in self._jobs if _in_line(j, self._holder)]
        pending = {j.id for j in waiting}  # those whose place is asked: the ones in line now
        if self._holder is not None:
            elapsed = now - self._turn_began
            turn = max(0.0, self.turn(self._holder, left[self._holder.id] + elapsed) - elapsed)
            riders = [j for j in self._jobs if j.riding is self._holder]
            seconds += turn + sum(self.turn(j, left[j.id]) for j in riders)
            left[self._holder.id] -= turn
            if left[self._holder.id] > 1e-6:  # it comes back for more turns, in its place
                waiting = [j for j in self._jobs if _in_line(j, self._holder) or j is self._holder]
        rotation = deque(self._rotation)
        ahead = {self._holder.id} if self._holder is not None else set()  # "前面还有" counts the one running
        line: dict[int, tuple[int, float]] = {}
        while pending:
            nxt = self._choose(waiting, rotation)
            if nxt is None:
                break
            group = [nxt]
            if nxt.offer is not None and self.policy == "fair" and nxt.offer.key is not None:
                group += self._mergeable(nxt.offer, nxt.owner, waiting, list(rotation),
                                         self.max_merge - nxt.offer.rows)
            for job in group:  # the riders start with the call that carries them
                if job.id in pending:
                    line[job.id] = (len(ahead), seconds)
                    pending.discard(job.id)
            for job in group:
                ahead.add(job.id)
                turn = self.turn(job, left[job.id])
                seconds += turn
                left[job.id] -= turn
                if left[job.id] <= 1e-6:
                    waiting.remove(job)
                if job.owner in rotation:
                    rotation.remove(job.owner)
                    rotation.append(job.owner)
        for job_id in pending:  # never chosen (the class paused): behind everything simulated
            line[job_id] = (len(ahead), seconds)
        return line

    def snapshot(self) -> list[dict]:
        """Every job in line, running first: for the operator's queue view."""
        now = time.monotonic()
        with self._cond:
            jobs = list(self._jobs)
            holder = self._holder
        rows = []
        for job in jobs:
            where = self.place(job)
            rows.append(dict(id=job.id, learner=job.learner, what=job.what, model=job.model, size=job.size,
                             state=_state(job, holder),
                             waited=((job.started or now) - job.submitted), ahead=where[0] if where else 0,
                             starts_in=where[1] if where else 0.0, operator=job.operator,
                             worker=job.worker["replica"] if job.worker else "",
                             expected=(where[1] if where else 0.0) + self.expected(job)))
        # the one on the device, then in the order of their next turns
        return sorted(rows, key=lambda r: (r["state"] != "running", r["starts_in"], r["id"]))

    def pause(self) -> None:
        with self._cond:
            self.paused = True

    def resume(self) -> None:
        with self._cond:
            self.paused = False
            self._cond.notify_all()

    def idle(self) -> bool:
        with self._cond:
            return not self._jobs


def _lazy(job: Ticket) -> bool:
    """Whether the job takes the device only when its work needs it (its units, or its first model) rather than
    at its start: a `by_unit` job, and every job while model work goes to a cluster (studio.core.backend)."""
    return job.by_unit or backend.remote()


def _joining(job: Ticket, holder: Ticket | None) -> bool:
    """A `by_unit` job admitted and checking its input: not yet waiting for, riding in or holding a turn."""
    return (job.by_unit and job.started is None and not job.waiting and job.riding is None and job is not holder
            and not job.remote and not threading.Event.is_set(job))


def _may_pass(rider: Ticket, waiting: Ticket) -> bool:
    """Whether `rider` may have its turn before `waiting` without `waiting` seeing more than one turn of each
    learner who was in line when its wait began."""
    return rider.submitted <= waiting.since and rider.owner not in waiting.passed


def _in_line(job: Ticket, holder: Ticket | None) -> bool:
    """Waiting for a turn, or admitted and not yet started: an image job checks its input (and may load its
    tokenizer) between joining the line and asking for its first unit; its page shows its place meanwhile."""
    return job.waiting or (job.started is None and job is not holder and job.riding is None and not job.remote)


def _state(job: Ticket, holder: Ticket | None) -> str:
    """What the operator's view says of a job: on the device (its own turn or riding in another's call), waiting
    for its first turn, or between turns."""
    if job is holder or job.riding is not None or (job.remote and job.remote_place is None and job.started):
        return "running"
    return "waiting" if job.started is None else "paused"


def _firsts(jobs: list[Ticket]) -> dict[str, Ticket]:
    """Each learner's first job among `jobs`."""
    first: dict[str, Ticket] = {}
    for job in jobs:
        first.setdefault(job.owner, job)
    return first


def _registry_step_seconds(model: str) -> float:
    from studio.core.registry import CARDS
    card = CARDS.get(model)
    return getattr(card, "step_seconds", None) or 0.5


_scheduler: Scheduler | None = None
_lock = threading.Lock()


def scheduler() -> Scheduler:
    """The server's one scheduler, built from the settings on first use."""
    global _scheduler
    with _lock:
        if _scheduler is None:
            _scheduler = from_settings()
        return _scheduler


def from_settings() -> Scheduler:
    from studio.core.config import settings
    s = settings()
    return Scheduler(turn_seconds=s.turn_seconds, user_queue=s.user_queue, queue_size=s.queue_size,
                     policy=s.queue_policy, log=s.queue_log, max_merge=s.max_merge)


def reset_scheduler(new: Scheduler | None = None) -> Scheduler:
    """A new scheduler (tests, and app.py after configure): from the settings unless given."""
    global _scheduler
    with _lock:
        _scheduler = new or from_settings()
        return _scheduler
