"""eSpeak NG through ctypes on the library the `espeakng-loader` wheel bundles (no system package).

A robotic voice, but it works everywhere offline: the speech tab's default when ChatTTS weights are absent.
The library keeps global state, so one lock serialises every call.
"""
from __future__ import annotations

import ctypes
import threading
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from studio.speech import tokens as speech_tokens


AUDIO_OUTPUT_SYNCHRONOUS = 2
CHARS_UTF8, SSML = 1, 0x10
RATE, VOLUME, PITCH = 1, 2, 3  # espeak_PARAMETER
VOICES = {"cmn": "普通话 Mandarin", "en": "English", "en-us": "English (US)", "yue": "粤语 Cantonese"}
# ChatTTS's pauses as SSML breaks: [break_N] in steps, [uv_break] short, [lbreak] long.
BREAK_MS = {"uv_break": 200, "lbreak": 700}
BREAK_STEP_MS = 100

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_lock = threading.Lock()


class _Library:
    """The library, initialised once per process. The manager may rebuild the engine many times (every eviction, every
    test), and re-running espeak_Initialize on a live library is not something eSpeak supports: a CI run died of a
    SIGSEGV inside espeak_Synth after many rebuilds. One module-level callback, never freed."""
    lib = None
    sample_rate = 0
    chunks: list[np.ndarray] = []

    @classmethod
    def get(cls, data_dir: Path):
        with _lock:
            if cls.lib is None:
                import espeakng_loader
                lib = ctypes.CDLL(espeakng_loader.get_library_path())
                lib.espeak_Initialize.restype = ctypes.c_int
                lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                             ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
                lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
                lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
                rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data_dir).encode(), 0)
                if rate <= 0:
                    raise RuntimeError(f"espeak_Initialize failed ({rate}) with data at {data_dir}")
                lib.espeak_SetSynthCallback(_CALLBACK_REF)
                cls.lib, cls.sample_rate = lib, rate
        return cls.lib, cls.sample_rate


def _collect(wav, count, _events) -> int:
    if count > 0:
        _Library.chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
    return 0


_CALLBACK_REF = _CALLBACK(_collect)  # module-level: the library keeps calling it for the life of the process


class Espeak:
    """A handle on the process's eSpeak library; synth() returns float32 mono samples at `sample_rate`."""

    def __init__(self, data_dir: Path):
        self.lib, self.sample_rate = _Library.get(data_dir)

    def synth(self, text: str, voice: str = "cmn", rate: int = 175, pitch: int = 50, volume: int = 100) -> np.ndarray:
        ssml = to_ssml(text).encode("utf-8")
        with _lock:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(voice)
            for parameter, value in ((RATE, rate), (PITCH, pitch), (VOLUME, volume)):
                self.lib.espeak_SetParameter(parameter, int(value), 0)
            _Library.chunks = []
            self.lib.espeak_Synth(ssml, len(ssml) + 1, 0, 0, 0, CHARS_UTF8 | SSML, None, None)
            self.lib.espeak_Synchronize()
            chunks, _Library.chunks = _Library.chunks, []
        samples = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        return samples.astype(np.float32) / 32768.0

    def phonemes(self, text: str, voice: str = "cmn") -> str:
        """What eSpeak will say, as its phoneme mnemonics (the 原理 view's middle step)."""
        self.lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self.lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
        out = []
        with _lock:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(voice)
            for piece in speech_tokens.sentences(speech_tokens.strip(text)) or [""]:
                buffer = ctypes.create_string_buffer(piece.encode("utf-8"))
                pointer = ctypes.c_void_p(ctypes.addressof(buffer))
                while pointer.value:
                    found = self.lib.espeak_TextToPhonemes(ctypes.byref(pointer), CHARS_UTF8, 0)
                    if found:
                        out.append(found.decode("utf-8", "replace"))
        return " ".join(out)

    def modules(self):  # nothing on a torch device
        return []


def to_ssml(text: str) -> str:
    """Plain text with ChatTTS tokens -> SSML: pauses become <break>, laughter and fillers are left out."""
    out, last = [], 0
    for m in speech_tokens.TOKEN.finditer(text):
        out.append(escape(text[last:m.start()]))
        name, number = m.group(1), m.group(2)
        if name == "break" and number is not None:
            out.append(f'<break time="{int(number) * BREAK_STEP_MS}ms"/>')
        elif name in BREAK_MS and number is None:
            out.append(f'<break time="{BREAK_MS[name]}ms"/>')
        last = m.end()
    out.append(escape(text[last:]))
    return f"<speak>{''.join(out)}</speak>"


def dropped_tokens(text: str) -> list[str]:
    """Tokens eSpeak cannot voice (laughter, filler words), to say so in a notice."""
    return [t for t in speech_tokens.tokens(text) if not (t.startswith("[break_") or t[1:-1] in BREAK_MS)]
