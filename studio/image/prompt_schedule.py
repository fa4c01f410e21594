"""A1111's prompt editing and alternation: which prompt each sampling step uses.

    [from:to:when]   from, then to after step `when` (a step number, or a fraction of the steps: 0.5)
    [to:when]        nothing, then to          [from::when]   from, then nothing
    [a|b|c]          a, b, c, a, ... one per step (alternation); nested and weighted parts allowed

A prompt the language does not accept (a '|' outside an alternation, a lone trailing backslash) is used as it is,
constructs and all, as A1111 does; brackets that close nothing are plain text. The rules follow A1111's
`modules/prompt_parser.py` (its doctests are tests/test_prompt_schedule.py); this is its own recursive descent, not
a port of A1111's Lark grammar. Weighting "(word:1.2)" is left in the text: studio.image.weighting reads it later.
"""
from __future__ import annotations

import re
from dataclasses import dataclass


PLAIN = re.compile(r"(?:[^\\\[\]():|]|\\.)+", re.S)  # text: no brackets, colons or bars, backslash escapes kept
WHEN = re.compile(r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*\]")  # a signed number, then "]"


@dataclass
class Edit:
    """[before:after:when]: `before` (None when omitted) up to step `when`, then `after`."""
    before: list | None
    after: list
    when: str  # as written: "3", ".5", "1.5" (a dot decides fraction vs step in the hires pass)


@dataclass
class Alternate:
    options: list[list]


class _Rejected(Exception):
    """The text is not in the language here (the caller tries another reading)."""


class _Parser:
    def __init__(self, text: str):
        self.text, self.at = text, 0

    def top(self) -> list | None:
        """The whole prompt; unmatched brackets and colons at the top stay text. None: not in the language."""
        items: list = []
        while self.at < len(self.text):
            char, start = self.text[self.at], self.at
            if char in "[(":
                try:
                    items.append(self.construct())
                    continue
                except _Rejected:
                    self.at = start
            if char in "[]():":
                items.append(char)
                self.at += 1
                continue
            match = PLAIN.match(self.text, self.at)
            if match is None:  # a bar outside an alternation, a lone backslash at the end
                return None
            items.append(match.group())
            self.at = match.end()
        return items

    def sequence(self) -> list:
        """Text and constructs up to the next ] ) | or : of this level (inside brackets nothing may be unmatched)."""
        items: list = []
        while self.at < len(self.text) and self.text[self.at] not in "])|:":
            if self.text[self.at] in "[(":
                items.append(self.construct())
                continue
            match = PLAIN.match(self.text, self.at)
            if match is None:
                raise _Rejected
            items.append(match.group())
            self.at = match.end()
        return items

    def expect(self, char: str) -> None:
        if not self.text.startswith(char, self.at):
            raise _Rejected
        self.at += 1

    def construct(self):
        opening = self.text[self.at]
        self.at += 1
        first = self.sequence()
        if opening == "(":  # weighting: kept as written
            if self.text.startswith(":", self.at):
                self.at += 1
                weight = self.sequence()
                self.expect(")")
                return ["(", *first, ":", *weight, ")"]
            self.expect(")")
            return ["(", *first, ")"]
        if self.text.startswith("]", self.at):
            self.at += 1
            return ["[", *first, "]"]
        if self.text.startswith("|", self.at):
            options = [first]
            while self.text.startswith("|", self.at):
                self.at += 1
                options.append(self.sequence())
            self.expect("]")
            return Alternate(options)
        self.expect(":")
        when = self._when()
        if when is not None:
            return Edit(None, first, when)
        second = self.sequence()
        self.expect(":")
        when = self._when()
        if when is None:
            raise _Rejected
        return Edit(first, second, when)

    def _when(self) -> str | None:
        match = WHEN.match(self.text, self.at)
        if match is None:
            return None
        self.at = match.end()
        return match.group(1)


def parse(prompt: str) -> list | None:
    """The prompt as text and constructs; None when A1111 would use it as it is."""
    return _Parser(prompt).top()


def _step(when: str, steps: int, base_steps: int, hires: bool, old: bool) -> int:
    """A `when` as the step it ends at (A1111: fractions of the pass's steps; in a hires pass a number counts on
    from the first pass, 1.5 = half the hires steps, unless "Old prompt editing timelines")."""
    value = float(when)
    if old:
        value = value * steps if value < 1 else value
    elif "." in when:
        value = (value - (1.0 if hires else 0.0)) * steps
    else:
        value -= base_steps if hires else 0
    return min(steps, int(value))


def _constructs(items: list):
    for item in items:
        if isinstance(item, Edit):
            yield item
            yield from _constructs(item.before or [])
            yield from _constructs(item.after)
        elif isinstance(item, Alternate):
            yield item
            for option in item.options:
                yield from _constructs(option)
        elif isinstance(item, list):
            yield from _constructs(item)


def _text(items: list, step: int, ends: dict[int, int]) -> str:
    out = []
    for item in items:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, Edit):
            out.append(_text((item.before or []) if step <= ends[id(item)] else item.after, step, ends))
        elif isinstance(item, Alternate):
            out.append(_text(item.options[(step - 1) % len(item.options)], step, ends))
        else:
            out.append(_text(item, step, ends))
    return "".join(out)


def prompt_schedule(prompt: str, steps: int, hires_steps: int | None = None,
                    use_old_scheduling: bool = False) -> list[list]:
    """[[until_step, text], ...]: the text each step up to `until_step` uses, as A1111's
    get_learned_conditioning_prompt_schedules gives it for one prompt. With `hires_steps`, the schedule of the hires
    pass (its steps counted from 1)."""
    hires = hires_steps is not None and not use_old_scheduling
    pass_steps = hires_steps if hires else steps
    items = parse(prompt)
    if items is None:
        return [[pass_steps, prompt]]
    ends, switches = {}, {pass_steps}
    for construct in _constructs(items):
        if isinstance(construct, Alternate):
            switches.update(range(1, pass_steps + 1))
            continue
        ends[id(construct)] = _step(construct.when, pass_steps, steps, hires, use_old_scheduling)
        if ends[id(construct)] >= 1:
            switches.add(ends[id(construct)])
    return [[step, _text(items, step, ends)] for step in sorted(switches)]
