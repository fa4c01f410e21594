"""查看代码 for 语音合成: the plain ChatTTS (or eSpeak NG) script that makes the page's audio."""
from __future__ import annotations

from studio.core.codegen import model_source
from studio.core.specs import ModelSpec
from studio.speech.engine import CHATTTS_RATE, GAP_SECONDS, SpeechJob
from studio.speech.espeak import BREAK_MS, BREAK_STEP_MS
from studio.speech.tokens import refine_prompt


CHATTTS = '''\
# Reproduces the studio's speech: ChatTTS (code AGPL-3.0, weights CC BY-NC 4.0)
# pip install ChatTTS torch torchaudio{extra_pip}   (torchaudio must be the same version as torch)
import wave
import numpy as np
import torch
import ChatTTS
{load_source}
chat = ChatTTS.Chat()
{accept}# source="custom": load the downloaded folder (the default "local" runs a downloader); an explicit device
chat.load(source="custom", custom_path=model_path, compile=False,
          device=torch.device("cuda" if torch.cuda.is_available() else "cpu"))
{speaker}
texts = {pieces!r}  # the text in sentence pieces
{refine}code = ChatTTS.Chat.InferCodeParams(prompt="[speed_{speed}]", spk_emb=speaker, temperature={temperature},
                                    top_P={top_p}, top_K={top_k}, manual_seed={seed})
waves = chat.infer(texts, skip_refine_text=True, params_infer_code=code, split_text=False)
gap = np.zeros(int({gap} * {rate}), np.float32)  # {gap} s between pieces
audio = np.concatenate([x for w in waves for x in (gap, np.asarray(w, np.float32).reshape(-1))][1:])
with wave.open("speech.wav", "wb") as f:
    f.setnchannels(1); f.setsampwidth(2); f.setframerate({rate})
    f.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
'''

ACCEPT = '''# This folder is not ChatTTS's published release, whose sha256 list load() checks: take its own hashes
import hashlib
for name in {files!r}:
    key = "sha256_" + name.replace("/", "_").replace(".", "_")
    chat.sha256_map[key] = hashlib.sha256(open(f"{{model_path}}/{{name}}", "rb").read()).hexdigest()
'''

REFINE = '''refine = ChatTTS.Chat.RefineTextParams(prompt="{prompt}", manual_seed={text_seed})  # oral / laugh / break
texts = chat.infer(texts, refine_text_only=True, params_refine_text=refine, split_text=False)
print("refined:", texts)
'''

ESPEAK = '''\
# Reproduces the studio's speech: eSpeak NG through the library the espeakng-loader wheel bundles
# pip install espeakng-loader numpy
import ctypes, re, wave
import numpy as np
import espeakng_loader

lib = ctypes.CDLL(espeakng_loader.get_library_path())
rate = lib.espeak_Initialize(2, 0, espeakng_loader.get_data_path().encode(), 0)  # 2 = synchronous
chunks = []
CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


@CALLBACK
def collect(wav, n, events):  # the library hands the samples over in chunks
    if n > 0:
        chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
    return 0


lib.espeak_SetSynthCallback(collect)
lib.espeak_SetVoiceByName({voice!r}.encode())
for parameter, value in ((1, {rate}), (3, {pitch}), (2, {volume})):  # rate (words/min), pitch, volume
    lib.espeak_SetParameter(parameter, value, 0)
lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                             ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]


def ssml(text):  # pauses: [break_N] = N x {step} ms, [uv_break] {uv} ms, [lbreak] {lb} ms; other tokens dropped
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = re.sub(r"\\[break_(\\d)\\]", lambda m: f'<break time="{{int(m.group(1)) * {step}}}ms"/>', text)
    text = text.replace("[uv_break]", '<break time="{uv}ms"/>').replace("[lbreak]", '<break time="{lb}ms"/>')
    return "<speak>" + re.sub(r"\\[[a-z_]+(_\\d+)?\\]", "", text) + "</speak>"


parts = []
for piece in {pieces!r}:  # the text in sentence pieces
    chunks.clear()
    data = ssml(piece).encode("utf-8")
    lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, 1 | 0x10, None, None)  # UTF-8 | SSML
    lib.espeak_Synchronize()
    parts.append(np.concatenate(chunks) if chunks else np.zeros(0, np.int16))
gap = np.zeros(int({gap} * rate), np.int16)
audio = np.concatenate([x for p in parts for x in (gap, p)][1:])
with wave.open("speech.wav", "wb") as f:
    f.setnchannels(1); f.setsampwidth(2); f.setframerate(rate)
    f.writeframes(audio.astype("<i2").tobytes())
'''


def speech_script(spec: ModelSpec, job: SpeechJob, hub: str = "huggingface", published: bool = True) -> str:
    if spec.loader == "espeak":
        return ESPEAK.format(voice=job.voice, rate=job.rate, pitch=job.pitch, volume=job.volume, pieces=job.pieces,
                             gap=GAP_SECONDS, step=BREAK_STEP_MS, uv=BREAK_MS["uv_break"], lb=BREAK_MS["lbreak"])
    load_source, extra_pip = model_source(spec, hub, folder=True, own=not published)  # custom_path: a folder on disk
    speaker = (f"speaker = {job.speaker!r}  # the pasted voice string" if job.speaker else
               f"torch.manual_seed({job.seed})  # voice seed {job.seed}: the same seed samples the same speaker\n"
               f"speaker = chat.sample_random_speaker()\nprint(speaker)  # paste it back to keep this voice")
    refine = REFINE.format(prompt=refine_prompt(job.oral, job.laugh, job.pause), text_seed=job.text_seed) \
        if job.refine else ""
    from studio.speech.chattts_files import FILES
    accept = "" if published else ACCEPT.format(files=FILES)
    return CHATTTS.format(load_source=load_source, extra_pip=extra_pip, accept=accept, speaker=speaker,
                          pieces=job.pieces, refine=refine,
                          speed=job.speed, temperature=job.temperature, top_p=job.top_p, top_k=job.top_k,
                          seed=job.seed, gap=GAP_SECONDS, rate=CHATTTS_RATE)
