"""A melody as files to take away: a standard MIDI file (through mido) and ABC notation text.

ABC is written with L:1/16 (a sixteenth is one unit, as the melody's tokens count time) and the key's accidentals
spelled out per bar, as ABC reads them: an accidental holds to the bar's end, so a later plain note gets "=".
"""
from __future__ import annotations

import io
from fractions import Fraction

import mido

from studio.music.notes import Note, meter_quarters
from studio.music.synth import INSTRUMENTS


TICKS = 480  # per quarter note
_SHARPS = "FCGDAEB"  # the order sharps enter a key signature; flats enter in reverse
_MAJOR_FIFTHS = {"C": 0, "G": 1, "D": 2, "A": 3, "E": 4, "B": 5, "F#": 6, "C#": 7,
                 "F": -1, "Bb": -2, "Eb": -3, "Ab": -4, "Db": -5, "Gb": -6, "Cb": -7}
_LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


# ---- MIDI ---------------------------------------------------------------------------------------------------

def midi_bytes(notes: list[Note], tempo: float, instrument: str, velocity: int, meter: str,
               transpose: int = 0) -> bytes:
    """A type-0 MIDI file: tempo, time signature, the instrument's General MIDI program, then the notes."""
    top, bottom = (int(x) for x in meter.split("/"))
    events = [(0, 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo))),
              (0, 0, mido.MetaMessage("time_signature", numerator=top, denominator=bottom)),
              (0, 0, mido.Message("program_change", program=INSTRUMENTS[instrument].program))]
    velocity = min(max(int(velocity), 1), 127)
    for note in notes:
        if note.pitch is None:
            continue
        pitch = min(max(note.pitch + transpose, 0), 127)
        on, off = round(note.start * TICKS), round((note.start + note.duration) * TICKS)
        events.append((on, 2, mido.Message("note_on", note=pitch, velocity=velocity)))
        events.append((off, 1, mido.Message("note_off", note=pitch, velocity=0)))  # before a note_on at the same tick
    track, now = mido.MidiTrack(), 0
    for tick, _, message in sorted(events, key=lambda e: e[:2]):
        track.append(message.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    buffer = io.BytesIO()
    mido.MidiFile(type=0, ticks_per_beat=TICKS, tracks=[track]).save(file=buffer)
    return buffer.getvalue()


# ---- bars ---------------------------------------------------------------------------------------------------

def first_bar_start(notes: list[Note], meter: str) -> float:
    """Where bar 0 begins, in quarter notes: the latest start every note's `bar` agrees with (negative when the
    tune opens with a pickup whose bar is counted as bar 0 but starts on the downbeat of a full bar)."""
    bar = meter_quarters(meter)
    return min((n.start - n.bar * bar for n in notes), default=0.0)


def bar_lines(notes: list[Note], meter: str | None) -> list[float]:
    """The bar lines inside the melody, in quarter notes (none for no meter, or "any")."""
    if not notes or "/" not in (meter or ""):
        return []
    bar, first = meter_quarters(meter), first_bar_start(notes, meter)
    end = max(n.start + n.duration for n in notes)
    lines, at = [], first + bar
    while at < end - 1e-9:
        lines.append(at)
        at += bar
    return lines


# ---- ABC ----------------------------------------------------------------------------------------------------

def _key_fifths(key: str) -> int:
    """Sharps (+) or flats (-) in the key signature of "C", "G", "Bb", "Am", "Dm", ..."""
    return _MAJOR_FIFTHS[key[:-1]] - 3 if key.endswith("m") else _MAJOR_FIFTHS[key]


def _key_alters(fifths: int) -> dict[str, int]:
    """The key signature as letter -> -1 / 0 / +1."""
    letters = _SHARPS[:fifths] if fifths >= 0 else _SHARPS[::-1][:-fifths]
    return {letter: (1 if fifths > 0 else -1) if letter in letters else 0 for letter in "CDEFGAB"}


def _spell(pitch: int, flats: bool) -> tuple[str, int, int]:
    """(letter, alteration, octave) of a MIDI pitch; black keys as flats in a flat key, otherwise C# Eb F# G# Bb."""
    pc, octave = pitch % 12, pitch // 12 - 1
    name = (["C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B"] if flats else
            ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B"])[pc]
    return name[0], {"": 0, "#": 1, "b": -1}[name[1:]], octave


def _abc_length(sixteenths: Fraction) -> str:
    num, den = sixteenths.numerator, sixteenths.denominator
    return ("" if num == 1 else str(num)) + ("" if den == 1 else f"/{den}")


def _abc_pitch(pitch: int, key: dict[str, int], bar_alters: dict, flats: bool) -> str:
    letter, alter, octave = _spell(pitch, flats)
    sign = ""
    if bar_alters.get((letter, octave), key[letter]) != alter:
        sign = {1: "^", 0: "=", -1: "_"}[alter]
        bar_alters[(letter, octave)] = alter
    name = letter if octave <= 4 else letter.lower()
    marks = "," * (4 - octave) if octave < 4 else "'" * (octave - 5) if octave > 5 else ""
    return sign + name + marks


def _pieces(notes: list[Note], lines: list[float]):
    """(pitch, start, length, tied on) in quarter notes: gaps filled with rests, notes cut at bar lines."""
    at = notes[0].start if notes else 0.0
    for note in notes:
        if note.start > at + 1e-9:
            yield from _cut(None, at, note.start - at, lines)
        yield from _cut(note.pitch, note.start, note.duration, lines)
        at = note.start + note.duration


def _cut(pitch, start, length, lines):
    end = start + length
    for line in lines:
        if start < line < end - 1e-9:
            yield pitch, start, line - start, pitch is not None
            start = line
    yield pitch, start, end - start, False


def abc_text(notes: list[Note], meter: str, title: str = "", key: str = "C", tempo: float | None = None) -> str:
    """ABC notation (L:1/16), four bars a line; rests are z, notes across a bar line are tied."""
    fifths = _key_fifths(key)
    key_alters = _key_alters(fifths)
    head = ["X:1", f"T:{title}", f"M:{meter if '/' in (meter or '') else 'none'}", "L:1/16"]
    head += ([f"Q:1/4={round(tempo)}"] if tempo else []) + [f"K:{key}"]
    lines = [at for at in bar_lines(notes, meter) if notes and at > notes[0].start + 1e-9]
    bars, alters = [[]], {}
    for pitch, start, length, tie in _pieces(notes, lines):
        while len(bars) <= len(lines) and start >= lines[len(bars) - 1] - 1e-9:
            bars.append([])
            alters = {}  # an accidental holds to the bar line
        token = "z" if pitch is None else _abc_pitch(pitch, key_alters, alters, fifths < 0)
        bars[-1].append(token + _abc_length(Fraction(length * 4).limit_denominator(48)) + ("-" if tie else ""))
    rows = [" | ".join(" ".join(bar) for bar in bars[i:i + 4]) for i in range(0, len(bars), 4)]
    return "\n".join(head) + "\n" + (" |\n".join(rows) + " |]").lstrip() + "\n"
