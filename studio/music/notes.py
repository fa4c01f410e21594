"""A melody as the studio passes it between its parts: the model's tokens become Notes, Notes become sound
(synth), MIDI and ABC (midi), a piano roll (view), and the API's result."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Note:
    pitch: int | None  # MIDI note number (60 = middle C); None is a rest
    start: float  # in quarter notes from the start of the piece
    duration: float  # in quarter notes
    bar: int  # the bar it starts in, counted from 0

    def seconds(self, tempo: float) -> tuple[float, float]:
        """(start, length) in seconds at `tempo` quarter notes per minute."""
        beat = 60.0 / tempo
        return self.start * beat, self.duration * beat


def meter_quarters(meter: str) -> float:
    """Quarter notes in one bar of a meter such as "2/4", "3/8", "6/8"."""
    top, bottom = meter.split("/")
    return int(top) * 4 / int(bottom)


def heard_meter(notes: list[Note]) -> str:
    """The meter of a melody written with the meter left open: what its commonest bar adds up to (3 quarters:
    3/4), for the bar lines of its ABC, MIDI and piano roll."""
    from collections import Counter
    bars = Counter(round(sum(n.duration for n in notes if n.bar == b) * 4) for b in {n.bar for n in notes})
    sixteenths = bars.most_common(1)[0][0] if bars else 8
    if sixteenths % 4 == 0:
        return f"{sixteenths // 4}/4"
    return f"{sixteenths // 2}/8" if sixteenths % 2 == 0 else f"{sixteenths}/16"
