"""The melody's sound and files (issue 42): the synthesiser plays the notes at their pitch, length and loudness,
and the MIDI and ABC downloads read back as the same notes."""
from __future__ import annotations

import io

import mido
import numpy as np
import pytest

from studio.music import midi, synth
from studio.music.notes import Note


RATE = 24000


def _tune(bars: list[list[tuple[int | None, float]]]) -> list[Note]:
    notes, start = [], 0.0
    for index, bar in enumerate(bars):
        for pitch, length in bar:
            notes.append(Note(pitch, start, length, index))
            start += length
    return notes


# 茉莉花 (gong = C, 2/4), then a rest, a high run and low notes: 0.25 - 2 quarter notes, G3 .. G5
JASMINE = _tune([
    [(64, 0.5), (64, 0.25), (67, 0.25), (69, 0.25), (72, 0.25), (72, 0.25), (69, 0.25)],
    [(67, 0.5), (67, 0.25), (69, 0.25), (67, 1.0)],
    [(64, 0.5), (64, 0.25), (67, 0.25), (69, 0.25), (72, 0.25), (72, 0.25), (69, 0.25)],
    [(67, 0.5), (67, 0.25), (69, 0.25), (67, 1.0)],
    [(67, 0.5), (67, 0.5), (67, 0.5), (64, 0.25), (67, 0.25)],
    [(69, 0.5), (69, 0.5), (67, 1.0)],
    [(64, 0.5), (62, 0.25), (64, 0.25), (67, 0.5), (64, 0.25), (62, 0.25)],
    [(60, 0.5), (60, 0.25), (62, 0.25), (60, 1.0)],
    [(None, 0.5), (74, 0.5), (76, 0.5), (79, 0.5)],
    [(57, 1.5), (55, 0.5)],
    [(60, 2.0)],
])


def _yin(x: np.ndarray, rate: int, low: float = 150, high: float = 1200, threshold: float = 0.15) -> float | None:
    """The fundamental of `x` (YIN: the first dip of the cumulative-mean-normalised difference under the
    threshold, refined by a parabola)."""
    longest, shortest = int(rate / low), int(rate / high)
    width = len(x) - longest
    if width < 200:
        return None
    diff = np.array([np.sum((x[:width] - x[lag:lag + width]) ** 2) for lag in range(longest + 1)])
    cmnd = np.ones_like(diff)
    cmnd[1:] = diff[1:] * np.arange(1, longest + 1) / np.maximum(np.cumsum(diff[1:]), 1e-12)
    under = np.flatnonzero(cmnd[shortest:] < threshold)
    lag = shortest + (under[0] if len(under) else int(np.argmin(cmnd[shortest:])))
    while lag < longest and cmnd[lag + 1] < cmnd[lag]:
        lag += 1
    if 0 < lag < longest:
        a, b, c = cmnd[lag - 1:lag + 2]
        lag += 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c else 0.0
    return rate / lag


def _cents_off(audio: np.ndarray, notes: list[Note], tempo: float) -> list[float]:
    """Per note longer than 100 ms, the tracked pitch of its middle half against the note's, in cents."""
    out = []
    for note in notes:
        start, length = note.seconds(tempo)
        if note.pitch is None or length <= 0.1:
            continue
        middle = audio[int((start + length / 4) * RATE):int((start + 3 * length / 4) * RATE)].astype(np.float64)
        f0 = _yin(middle[:2400], RATE)
        out.append(1200 * np.log2(f0 / synth.midi_hz(note.pitch)) if f0 else np.inf)
    return out


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


@pytest.mark.parametrize("instrument", list(synth.INSTRUMENTS))
def test_each_instrument_plays_the_notes_in_tune(instrument):
    audio = synth.render(JASMINE, tempo=90, instrument=instrument, sample_rate=RATE)
    assert audio.dtype == np.float32 and np.abs(audio).max() <= 1.0
    assert len(audio) == round(synth.seconds(JASMINE, 90) * RATE)
    assert _rms(audio) > 0.02  # not silent
    cents = np.abs(_cents_off(audio, JASMINE, 90))
    assert len(cents) >= 40
    assert np.mean(cents <= 50) >= 0.9, sorted(cents)[-5:]


def test_tempo_sets_the_length():
    slow, fast = (synth.render(JASMINE, tempo=t, sample_rate=RATE) for t in (60, 120))
    music = JASMINE[-1].start + JASMINE[-1].duration  # quarter notes
    assert len(slow) / RATE == pytest.approx(music + synth.RELEASE, abs=1e-3)
    assert len(fast) / RATE == pytest.approx(music / 2 + synth.RELEASE, abs=1e-3)
    assert synth.seconds([], 90) == synth.RELEASE and not synth.render([], 90).any()


@pytest.mark.parametrize("instrument", ["guzheng", "dizi"])
def test_velocity_changes_loudness_and_brightness(instrument):
    soft, hard = (synth.render(JASMINE[:16], instrument=instrument, velocity=v, sample_rate=RATE) for v in (40, 120))
    assert _rms(hard) > 3 * _rms(soft)

    def centroid(x):
        power = np.abs(np.fft.rfft(x)) ** 2
        return float((np.fft.rfftfreq(len(x), 1 / RATE) * power).sum() / power.sum())
    assert centroid(hard) > centroid(soft) * 1.05


@pytest.mark.parametrize("instrument", list(synth.INSTRUMENTS))
def test_rests_are_silent_and_the_sound_repeats(instrument):
    notes = [Note(67, 0, 1, 0), Note(None, 1, 2, 0), Note(72, 3, 1, 1)]
    audio = synth.render(notes, tempo=90, instrument=instrument, sample_rate=RATE)
    rest_from, rest_to = int((60 / 90 + synth.RELEASE) * RATE), int(3 * 60 / 90 * RATE)
    assert not audio[rest_from:rest_to].any()
    assert _rms(audio[rest_to:rest_to + RATE // 4]) > 0.02
    assert np.array_equal(audio, synth.render(notes, tempo=90, instrument=instrument, sample_rate=RATE))


def test_transpose_moves_the_pitch():
    up = synth.render(JASMINE, tempo=90, transpose=5, sample_rate=RATE)
    moved = [Note(n.pitch + 5 if n.pitch is not None else None, n.start, n.duration, n.bar) for n in JASMINE]
    assert np.mean(np.abs(_cents_off(up, moved, 90)) <= 50) >= 0.9


def test_an_unknown_instrument_is_refused():
    with pytest.raises(ValueError, match="guzheng"):
        synth.render(JASMINE, instrument="erhu")


@pytest.mark.parametrize("instrument", list(synth.INSTRUMENTS))
def test_midi_reads_back_as_the_notes(instrument):
    data = midi.midi_bytes(JASMINE, 96, instrument, 100, "2/4", transpose=2)
    track = mido.MidiFile(file=io.BytesIO(data)).tracks[0]
    now, heard, sounding, meta = 0, [], {}, {}
    for message in track:
        now += message.time
        if message.type == "note_on" and message.velocity:
            sounding[message.note] = (now, message.velocity)
        elif message.type in ("note_on", "note_off"):
            on, velocity = sounding.pop(message.note)
            heard.append((message.note, on / midi.TICKS, (now - on) / midi.TICKS, velocity))
        else:
            meta[message.type] = message
    assert heard == [(n.pitch + 2, n.start, n.duration, 100) for n in JASMINE if n.pitch is not None]
    assert mido.tempo2bpm(meta["set_tempo"].tempo) == pytest.approx(96)
    assert (meta["time_signature"].numerator, meta["time_signature"].denominator) == (2, 4)
    assert meta["program_change"].program == synth.INSTRUMENTS[instrument].program
    assert synth.INSTRUMENTS["guzheng"].program == 107  # General MIDI Koto


@pytest.mark.parametrize("key", ["C", "G", "F"])
def test_abc_reads_back_as_the_notes(key):
    music21 = pytest.importorskip("music21")
    # a pickup, a note tied over the bar line, accidentals that hold to the bar's end, a rest, triplet lengths
    notes = [Note(67, 1.0, 0.5, 0), Note(69, 1.5, 0.5, 0), Note(72, 2, 1.5, 1), Note(66, 3.5, 0.25, 1),
             Note(65, 3.75, 0.75, 1), Note(None, 4.5, 0.5, 2), Note(70, 5.0, 0.25, 2), Note(58, 5.25, 0.25, 2),
             Note(84, 5.5, 0.5, 2), Note(48, 6, 1, 3), Note(61, 7, 1 / 3, 3), Note(63, 7 + 1 / 3, 2 / 3, 3)]
    notes += [Note(n.pitch, n.start + 8, n.duration, n.bar + 4) for n in JASMINE[:8]]
    text = midi.abc_text(notes, "2/4", title="茉莉花", key=key, tempo=90)
    assert "L:1/16" in text and "Q:1/4=90" in text and f"K:{key}" in text and "|" in text
    score = music21.converter.parse(text, format="abc").stripTies()
    read = [(None if e.isRest else e.pitch.midi, round(float(e.quarterLength), 6))
            for e in score.flatten().notesAndRests]
    assert read == [(n.pitch, round(n.duration, 6)) for n in notes]


def test_piano_roll_draws_the_notes_and_the_highlighted_one():
    from studio.music.view import piano_roll, pitch_label
    plain = np.asarray(piano_roll(JASMINE, "2/4", title="茉莉花"))
    marked = np.asarray(piano_roll(JASMINE, "2/4", title="茉莉花", highlight=3))
    blue = (marked[..., 2] > 200) & (marked[..., 0] < 80)  # the highlight colour, #2563eb
    assert plain.shape == marked.shape and plain.shape[2] == 3
    assert blue.sum() > 20 and not ((plain[..., 2] > 200) & (plain[..., 0] < 80)).sum() > 20
    assert pitch_label(67) == "G4  5" and pitch_label(72).startswith("C5  1")
