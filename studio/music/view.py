"""原理 for music: a melody as a piano roll (notes as bars over time, 简谱 degrees beside the pitch names, bar
lines dashed). An audio model's music has no notes: it is drawn as speech is, by `picture` (waveform + mel)."""
from __future__ import annotations

import io
import warnings

from PIL import Image

from studio.music.midi import bar_lines
from studio.music.notes import Note
from studio.speech.view import picture


__all__ = ["piano_roll", "picture", "pitch_label"]  # picture: the waveform + mel of an audio model's music

_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
_DEGREES = ["1", "#1", "2", "b3", "3", "4", "#4", "5", "b6", "6", "b7", "7"]  # 简谱 with gong = C = 1
_DOTS = {-2: "\u0324", -1: "\u0323", 0: "", 1: "\u0307", 2: "\u0308"}  # combining dots below / above
_CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei",
              "WenQuanYi Zen Hei", "SimHei")
_NOTE, _HIGHLIGHT = "#f97316", "#2563eb"


def pitch_label(pitch: int, jianpu: bool = True) -> str:
    """"G4 5": the pitch's name and octave, then its 简谱 degree with a dot below (an octave lower than middle C's)
    or above (higher), two side by side for two octaves (stacked combining dots overprint in matplotlib)."""
    name = f"{_NAMES[pitch % 12]}{pitch // 12 - 1}"
    if not jianpu:
        return name
    octave = min(max(pitch // 12 - 5, -2), 2)
    return f"{name}  {_DEGREES[pitch % 12]}{_DOTS[octave]}"


def _fonts() -> list[str]:
    """A CJK font where the machine has one (titles may be Chinese), then matplotlib's own."""
    from matplotlib import font_manager
    have = {f.name for f in font_manager.fontManager.ttflist}
    return [name for name in _CJK_FONTS if name in have] + ["DejaVu Sans"]


def piano_roll(notes: list[Note], meter: str, title: str = "", highlight: int | None = None,
               jianpu: bool = True) -> Image.Image:
    """Each note a bar from its start to its end (in quarter notes) at its pitch; `highlight` is the index of a
    note drawn in another colour (the next-note view's note)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    pitches = [n.pitch for n in notes if n.pitch is not None] or [60]
    low, high = min(pitches) - 1, max(pitches) + 1
    end = max((n.start + n.duration for n in notes), default=4.0)
    with plt.rc_context({"font.family": _fonts()}), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Glyph .* missing")  # a Chinese title on a machine with no CJK font
        fig, ax = plt.subplots(figsize=(9, 1.6 + 0.16 * (high - low)))
        for i, note in enumerate(notes):
            if note.pitch is not None:
                ax.add_patch(plt.Rectangle((note.start, note.pitch - 0.4), note.duration, 0.8, linewidth=0.6,
                                           facecolor=_HIGHLIGHT if i == highlight else _NOTE, edgecolor="#7c2d12"))
        for at in bar_lines(notes, meter):
            ax.axvline(at, color="#888888", linestyle="--", linewidth=0.8)
        ax.set_xlim(min((n.start for n in notes), default=0.0), end)
        ax.set_ylim(low - 0.5, high + 0.5)
        ax.set_yticks(range(low, high + 1), [pitch_label(p, jianpu) for p in range(low, high + 1)], fontsize=8)
        ax.grid(axis="y", color="#eeeeee", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.set_xlabel("♩")  # the axis counts quarter notes: a symbol, so the picture reads in either language
        if title:
            ax.set_title(title, fontsize=10)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=90)
        plt.close(fig)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
