"""mini-melody's token vocabulary, and tokens <-> Notes.

A tune is one sequence:

    <bos> meter:2/4 mode:zhi region:Shaanxi genre:Xiaodiao bars:16    the prefix: one token per label ("any" too)
    | p67 d4 p64 d2 p62 d2 | ... |2 ... |1 p67 d8 <eos>           the body: a bar token before each bar, then
                                                                   each note as a pitch token and a duration token

- Pitches are MIDI numbers with gong transposed to C (every tune is shifted by its key signature, -5..+6 semitones,
  so that modes are comparable): tokens p48..p91; `rest` is a rest.
- Durations are in sixteenth notes: d1..d32 (d4 is a quarter note). Notes tied within a bar are one note; a note
  tied over a bar line is two notes of the same pitch (the Note type has no ties).
- A bar token before each bar counts down the last bars: `|4 |3 |2 |1` open the fourth-last .. last bar, `|`
  any earlier one. The runtime writes the right one itself, so a requested number of bars ends with a cadence the
  model has seen coming (and exactly that many bars).
- The length token `bars:N` is the bar count rounded up to one of BAR_BUCKETS (`bars:long` above the last).
- Special tokens: <pad> <bos> <eos>.
The label values come from the model's labels json (a retrained model carries its own); the rest is fixed here.
"""
from __future__ import annotations

from fractions import Fraction

from studio.music.notes import Note, meter_quarters


PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
SPECIALS = [PAD, BOS, EOS]
ANY = "any"
FIELDS = ("meter", "mode", "region", "genre")  # the prefix's order; then the length token
LOW, HIGH = 48, 91  # the pitch tokens' range (after gong -> C)
REST = "rest"
MAX_SIXTEENTHS = 32
BAR = "|"
COUNTDOWN = 4  # |4 .. |1
BAR_BUCKETS = (4, 8, 12, 16, 20, 24, 32, 48)
BAR_TOKENS = [BAR] + [f"{BAR}{k}" for k in range(COUNTDOWN, 0, -1)]
PITCH_TOKENS = [f"p{p}" for p in range(LOW, HIGH + 1)] + [REST]
DURATION_TOKENS = [f"d{k}" for k in range(1, MAX_SIXTEENTHS + 1)]
LENGTH_TOKENS = [f"bars:{b}" for b in BAR_BUCKETS] + ["bars:long", "bars:any"]


def vocabulary(labels: dict[str, list[str]]) -> list[str]:
    """Every token, ids in this order: specials, label tokens (each field's values, then its "any"), length,
    bars, pitches, durations. `labels` maps each of FIELDS to the values the model knows."""
    tokens = list(SPECIALS)
    for field in FIELDS:
        tokens += [f"{field}:{v}" for v in labels[field]] + [f"{field}:{ANY}"]
    return tokens + LENGTH_TOKENS + BAR_TOKENS + PITCH_TOKENS + DURATION_TOKENS


def length_token(bars: int | None) -> str:
    if bars is None:
        return "bars:any"
    return next((f"bars:{b}" for b in BAR_BUCKETS if bars <= b), "bars:long")


def prefix(meter: str | None, mode: str | None, region: str | None, genre: str | None,
           bars: int | None) -> list[str]:
    """<bos> and the label tokens; None (or "any") for a label left open."""
    values = (meter, mode, region, genre)
    return [BOS] + [f"{f}:{v or ANY}" for f, v in zip(FIELDS, values)] + [length_token(bars)]


def bar_token(index: int, bars: int) -> str:
    """The token that opens bar `index` (from 0) of a piece of `bars` bars."""
    left = bars - index
    return f"{BAR}{left}" if left <= COUNTDOWN else BAR


def is_bar(token: str) -> bool:
    return token.startswith(BAR)


def pitch_of(token: str) -> int | None:
    """The MIDI pitch of a pitch token, None for `rest`."""
    return None if token == REST else int(token[1:])


def pitch_token(pitch: int | None) -> str:
    if pitch is None:
        return REST
    if not LOW <= pitch <= HIGH:
        raise ValueError(f"pitch {pitch} outside p{LOW}..p{HIGH}")
    return f"p{pitch}"


def sixteenths(quarters: float) -> int:
    """A duration in sixteenths; ValueError when it is not a whole number of them (or too long)."""
    value = Fraction(quarters).limit_denominator(64) * 4
    if value.denominator != 1 or not 1 <= value <= MAX_SIXTEENTHS:
        raise ValueError(f"duration {quarters} is not 1..{MAX_SIXTEENTHS} sixteenths")
    return int(value)


def tokens_of(notes: list[Note], meter: str | None = None) -> list[str]:
    """The body tokens of notes (gong = C) grouped by their bar index, ending with <eos>. Bars are renumbered
    from 0 in order; an empty bar index in between is skipped. `meter` is not needed for the tokens (the durations
    say it) and is accepted for symmetry with notes_of."""
    bars: dict[int, list[Note]] = {}
    for note in notes:
        bars.setdefault(note.bar, []).append(note)
    out = []
    for i, b in enumerate(sorted(bars)):
        out.append(bar_token(i, len(bars)))
        for note in sorted(bars[b], key=lambda n: n.start):
            out += [pitch_token(note.pitch), f"d{sixteenths(note.duration)}"]
    return out + [EOS]


def notes_of(tokens: list[str], meter: str | None = None) -> list[Note]:
    """The notes of a token sequence (prefix tokens, specials and a pitch without its duration are ignored).
    Starts run on from note to note; a first bar shorter than the meter is a pickup, placed to end on the first
    bar line (so bar k starts at k bars). Reading stops at <eos>."""
    bars: list[list[tuple[int | None, float]]] = []
    pitch, have_pitch = None, False
    for token in tokens:
        if token == EOS:
            break
        if is_bar(token):
            bars.append([])
            have_pitch = False
        elif token in _PITCHES and bars:
            pitch, have_pitch = pitch_of(token), True
        elif token in _DURATIONS and have_pitch:
            bars[-1].append((pitch, int(token[1:]) / 4))
            have_pitch = False
    bars = [b for b in bars if b]
    start = 0.0
    if bars and meter and meter != ANY:
        first = sum(d for _, d in bars[0])
        start = max(0.0, meter_quarters(meter) - first)
    notes = []
    for index, bar in enumerate(bars):
        for p, d in bar:
            notes.append(Note(p, start, d, index))
            start += d
    return notes


_PITCHES = set(PITCH_TOKENS)
_DURATIONS = set(DURATION_TOKENS)


def transpose_to_gong_c(gong: int) -> int:
    """Semitones that move a tune with gong at pitch class `gong` to gong = C, in -5..+6."""
    return -gong if gong <= 6 else 12 - gong
