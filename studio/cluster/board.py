"""The cluster's notice board: one small named Ray actor that every replica reports to and reads from.

Serve's router picks a replica per request, so the web process cannot call each replica in turn. Instead each
replica posts what the operator's view shows (node, device, loaded models, jobs running / waiting / done) every
`REPORT_EVERY` seconds and reads back what the operator decided for the whole cluster: whether the class's queue is
paused, and the operator's model commands (unload a model everywhere). It holds no model and does no model work.
"""
from __future__ import annotations

import time

import ray


NAMESPACE = "aigc-studio"  # the web process's Ray namespace (named actors are looked up in it)
NAME = "studio-board"
REPORT_EVERY = 1.0
STALE = 5.0  # a replica silent this long is gone (killed, its node lost)


@ray.remote(num_cpus=0)
class Board:
    def __init__(self):
        self.reports: dict[str, dict] = {}
        self.paused = False
        self.commands: list[tuple[int, str, str]] = []  # (number, action, model), in order

    def report(self, info: dict) -> tuple[bool, list]:
        """A replica's news; back: the pause and the commands after the last one it saw."""
        self.reports[info["replica"]] = dict(info, seen=time.time())
        seen = info.get("commands_seen", 0)
        return self.paused, [c for c in self.commands if c[0] > seen]

    def replicas(self) -> list[dict]:
        now = time.time()
        return [r for r in self.reports.values() if now - r["seen"] < STALE]

    def pause(self, paused: bool) -> None:
        self.paused = paused

    def command(self, action: str, model: str) -> int:
        number = len(self.commands) + 1
        self.commands.append((number, action, model))
        return number


def board():
    """The cluster's board (made by the first process that asks; it lives as long as the cluster)."""
    return Board.options(name=NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True).remote()
