"""查看代码 for 音乐生成: the script that makes the page's music. MusicGen: plain transformers (the same generate()
options, the seed set before it). mini-melody: the model's part in plain transformers -- the prefix of label
tokens, then a note at a time with the same sampling knobs and the job's own generator, under the same grammar
(studio.music.melody) -- then the studio's synthesiser and MIDI writer, as the page plays it."""
from __future__ import annotations

from studio.core.codegen import model_source
from studio.core.specs import ModelSpec


MUSICGEN = '''\
# Reproduces the studio's music: {title} (weights CC BY-NC 4.0: non-commercial use only)
# pip install torch transformers safetensors scipy{extra_pip}
import numpy as np
import scipy.io.wavfile
import torch
from transformers import AutoProcessor, {cls}
{load_source}
device = "cuda" if torch.cuda.is_available() else "cpu"
dtype = torch.float16 if device == "cuda" else torch.float32  # the studio runs fp32 on a CPU
processor = AutoProcessor.from_pretrained(model_path)
model = {cls}.from_pretrained(model_path, dtype=dtype).to(device).eval()

{tune}inputs = processor(text=[{prompt!r}], padding=True, return_tensors="pt"{tune_args}).to(device)
# {duration:g} s of music: {frame_rate:g} frames a second, plus the delay pattern's tail of {delay} steps
max_new_tokens = {tokens}
torch.manual_seed({seed})  # seed {seed}: the same seed and settings give the same music
audio = model.generate(**inputs, max_new_tokens=max_new_tokens,
{options})
rate = model.config.audio_encoder.sampling_rate
scipy.io.wavfile.write("music.wav", rate, audio[0].float().mean(dim=0).cpu().numpy())  # mono, as the studio
'''


TUNE = '''import torchaudio
from scipy.io import wavfile

# The tune that steers it: copy {name!r} beside this script. Mono float in [-1, 1], its first {seconds} s, at the
# feature extractor's rate (resampled as the studio does).
rate, tune = wavfile.read({name!r})
tune = tune / float(np.iinfo(tune.dtype).max) if tune.dtype.kind == "i" else tune
tune = torch.tensor(tune, dtype=torch.float32)
tune = (tune.mean(dim=1) if tune.ndim == 2 else tune)[:{seconds} * rate]
target = processor.feature_extractor.sampling_rate
if rate != target:
    tune = torchaudio.functional.resample(tune, rate, target, rolloff=0.945, lowpass_filter_width=24)
'''


def music_script(spec: ModelSpec, job, hub: str = "huggingface", rate: int = 24000) -> str:
    if job.symbolic:
        return melody_script(spec, job, hub, rate)
    load_source, extra_pip = model_source(spec, hub)
    options = dict(do_sample=job.sampling.temperature > 0, guidance_scale=job.guidance)
    if job.sampling.temperature > 0:
        options.update(temperature=job.sampling.temperature, top_k=job.sampling.top_k, top_p=job.sampling.top_p)
    config = _config(spec)
    decoder = config.get("decoder", {})
    frame_rate = _frame_rate(config)
    delay = decoder.get("num_codebooks", 4) // decoder.get("audio_channels", 1) - 1  # codebook k starts k steps late
    melody = config.get("model_type", spec.key.replace("-", "_")) == "musicgen_melody"
    cls = "MusicgenMelodyForConditionalGeneration" if melody else "MusicgenForConditionalGeneration"
    from studio.music.knobs import MELODY_SECONDS
    tune = TUNE.format(name=job.melody_name or "tune.wav", seconds=MELODY_SECONDS) if job.melody else ""
    tune_args = ", audio=tune.numpy(), sampling_rate=target" if job.melody else ""
    return MUSICGEN.format(title=spec.title, extra_pip=extra_pip, cls=cls, load_source=load_source, tune=tune,
                           tune_args=tune_args,
                           prompt=job.prompt, duration=job.duration, frame_rate=frame_rate, delay=delay,
                           tokens=max(1, round(job.duration * frame_rate)) + delay, seed=job.seed,
                           options="\n".join(f"    {k}={v!r}," for k, v in options.items()))


def _config(spec: ModelSpec) -> dict:
    """The checkpoint's config.json ({} before a download: the published MusicGen checkpoints' values then)."""
    import json
    try:
        return json.loads((spec.path / "config.json").read_text(encoding="utf-8"))
    except (OSError, TypeError, ValueError):
        return {}


def _frame_rate(config: dict) -> float:
    """EnCodec frames a second: its sampling rate over the product of its upsampling ratios (32 kHz / 640 = 50)."""
    import math
    audio = config.get("audio_encoder", {})
    ratios = audio.get("upsampling_ratios")
    return math.ceil(audio["sampling_rate"] / math.prod(ratios)) if ratios and "sampling_rate" in audio else 50


MELODY = '''\
# Reproduces the studio's melody: {title}, seed {seed}
# Non-commercial teaching only: trained on the Essen folk song collection's Chinese songs (see the model card).
# Run it in a checkout of AIGC Studio: the token grammar, the synthesiser and the MIDI writer are the studio's own.
# pip install torch transformers safetensors mido
import wave

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from studio.music import melody, midi, synth, vocab
from studio.music.notes import heard_meter
from studio.text.engine import logits_processors
from studio.text.sampling import Sampling
{load_source}
tokenizer = AutoTokenizer.from_pretrained(model_path)
model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).eval()

# 1. The conditions are the prompt: a token per label (风格 and 结构; "any" leaves one open), then the length
labels = {labels!r}
prompt = melody.prompt_tokens(labels, {bars})  # {prompt}
# Label guidance {guidance!r}, CFG as in 文生图: a second row with every label open, and each step draws from
# open + guidance x (labelled - open); 1 (or no label named): the labelled row alone
guidance = {guidance!r}
rows = [prompt]
if guidance != 1 and any(v != vocab.ANY for v in labels.values()):
    rows.append(melody.prompt_tokens(dict.fromkeys(labels, vocab.ANY), {bars}))
# 2. Note by note, as a text model writes a poem: the logits, the grammar's mask (a duration after a pitch; exactly
#    {bars} bars{in_meter}{on_final}), the sampling knobs, then one draw from this seed's own generator
knobs = logits_processors(Sampling(temperature={temperature!r}, top_k={top_k!r}, top_p={top_p!r},
                                   repetition_penalty=1.0))
generator = torch.Generator().manual_seed({seed})  # seed {seed}: the same seed and settings give the same melody
# sixteenths per bar (None: free), and the pitch class the last note must rest on (the mode's final; None: any)
grammar = melody.Grammar(tokenizer, {bars}, {sixteenths!r}, {final!r})
ids = torch.tensor([tokenizer.convert_tokens_to_ids(row) for row in rows])  # the rows take the same tokens
pending, past = ids, None
with torch.no_grad():
    while ids.shape[1] < model.config.n_positions:
        allowed = grammar.allowed()
        if len(allowed) == 1:  # the grammar leaves one choice (the first bar line): no draw
            token = allowed[0]
        else:
            out = model(input_ids=pending, past_key_values=past, use_cache=True)
            past, pending = out.past_key_values, ids[:, :0]
            logits = out.logits[:, -1].float()
            if len(rows) == 2:
                logits = logits[1:] + guidance * (logits[:1] - logits[1:])
            scores = knobs(ids[:1], grammar.mask(logits))
{draw}
        ids = torch.cat([ids, torch.full((len(rows), 1), token)], dim=1)
        pending = torch.cat([pending, torch.full((len(rows), 1), token)], dim=1)
        grammar.push(token)
        if token == tokenizer.eos_token_id:
            break
tokens = tokenizer.convert_ids_to_tokens(ids[0].tolist())
notes = vocab.notes_of(tokens[len(prompt):], {meter_or_none!r})
meter = {meter_or_none!r} or heard_meter(notes)  # an open meter: what the melody's bars add up to
# 3. 表现: the synthesiser plays the notes ({instrument}, tempo {tempo}, velocity {velocity}); MIDI and ABC to share
audio = synth.render(notes, tempo={tempo}, instrument={instrument!r}, velocity={velocity}, sample_rate={rate})
with wave.open("melody.wav", "wb") as f:
    f.setnchannels(1); f.setsampwidth(2); f.setframerate({rate})
    f.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
with open("melody.mid", "wb") as f:
    f.write(midi.midi_bytes(notes, {tempo}, {instrument!r}, {velocity}, meter))
print(midi.abc_text(notes, meter, title="mini-melody {seed}", tempo={tempo}))
'''

GREEDY = "            token = int(torch.argmax(scores, dim=-1))  # temperature 0: always the likeliest"
DRAW = "            token = int(torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator))"


def melody_script(spec: ModelSpec, job, hub: str, rate: int) -> str:
    from studio.music import labels as names
    from studio.music import melody, vocab
    from studio.music.notes import meter_quarters
    load_source, _ = model_source(spec, hub)
    labels = {name: job.labels.get(name) or vocab.ANY for name in vocab.FIELDS}
    asked, mode = job.labels.get("meter"), job.labels.get("mode")
    return MELODY.format(
        title=spec.title, seed=job.seed, load_source=load_source, labels=labels, bars=job.bars,
        prompt=" ".join(melody.prompt_tokens(labels, job.bars)), in_meter=f" of {asked}" if asked else "",
        on_final=f", ending on {mode}'s final" if mode else "", final=names.FINALS[mode] if mode else None,
        guidance=job.guidance, temperature=job.sampling.temperature, top_k=job.sampling.top_k,
        top_p=job.sampling.top_p, sixteenths=round(meter_quarters(asked) * 4) if asked else None,
        draw=GREEDY if job.sampling.greedy else DRAW,
        meter_or_none=asked, instrument=job.instrument, tempo=job.tempo, velocity=job.velocity, rate=rate)
