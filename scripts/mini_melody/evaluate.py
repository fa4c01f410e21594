"""Evaluate a mini-melody model folder on prepare_data.py's held-out split and on generated pieces.

    python -m scripts.mini_melody.evaluate assets/models/mini-melody runs/mini-melody-data [--card] [--check]

Prints Markdown tables:
1. Held-out perplexity per body token (bar, pitch and duration tokens and <eos>; the prefix is given) of the
   held-out tunes with their labels, against the same tunes with their pitches shuffled (each tune's pitches
   permuted over its notes with a fixed seed; rhythm, bars and labels kept), and with all labels "any". The
   pitch tokens alone are scored too, since shuffling changes only them. Target: the real order clearly more
   likely than the shuffled one (pitch perplexity at most 2/3 of the shuffled).
2. Generated pieces through the studio's own sampler (studio.music.melody.sample), --samples per (meter, mode)
   for meters 2/4, 3/4, 4/4 and the five modes, region and genre "any", --bars bars, at each temperature, with
   the model alone (strict_form=False) and with the form kept (the default): the share in the requested meter
   (every bar but the first and last fills the meter exactly, and those two do not overflow it), the share
   ending on the requested mode's final, and, as a baseline, the share of pieces with mode "any" that end on the
   final of a mode named in turn for the same seeds. Targets at temperature 0.9 with the form kept: 100% in
   meter (by construction), >= 60% on the final. The model alone (strict_form=False) on the asked final, per mode,
   against the share of mode-"any" pieces ending on that final unasked.
3. Do the labels act? Per field (meter, mode, region, genre), over the held-out tunes with that label known:
   perplexity with the true labels, with that field "any", and with that field set to other values (up to
   three per tune); also of the last sounding pitch alone. Target: true < any < wrong, wrong >= 1.005 x true,
   for mode, genre and region.
4. Genre: repeated-note rate, mean pitch, share of sixteenth notes and notes per bar of the data's 2/4 tunes of
   each genre against --style-samples generated pieces per genre (2/4, --style-bars bars, mode and region "any",
   T 0.9, both samplers), and whether each genre moves from the first (Xiaodiao) the way the data does.
5. Region: mode mix (share of pieces ending on each final) and mean pitch of the data per region of REGIONS
   against --region-samples generated pieces (8 bars, everything else "any"), and their correlation over regions.

--card writes the tables into MODEL_DIR/README.md (between the eval markers); --check exits with status 1 when a
target is missed; --json PATH saves the figures. Seeded; fp32 on the CPU.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from scripts.mini_melody.train import read_tunes, tune_tokens
from scripts.trainlib import command
from studio.music import vocab
from studio.music.labels import FINALS, NAMES
from studio.music.notes import meter_quarters


METERS = ("2/4", "3/4", "4/4")
MODES = tuple(FINALS)
TEMPERATURES = (0.6, 0.9, 1.2)
SEED = 2024
MARK_START, MARK_END = "<!-- eval:start -->", "<!-- eval:end -->"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_dir", type=Path)
    p.add_argument("data_dir", type=Path, help="prepare_data.py's output folder (eval.jsonl)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--samples", type=int, default=6, help="pieces per (meter, mode) and temperature")
    p.add_argument("--bars", type=int, default=8)
    p.add_argument("--temperatures", default=",".join(map(str, TEMPERATURES)))
    p.add_argument("--max-tunes", type=int, default=0, help="score only the first N held-out tunes (0: all)")
    p.add_argument("--style-samples", type=int, default=16, help="pieces per genre and sampler (0: skip)")
    p.add_argument("--style-bars", type=int, default=16)
    p.add_argument("--region-samples", type=int, default=24, help="pieces per region (0: skip)")
    p.add_argument("--guidance", default="1,3", help="label guidance values for the genre and region tables")
    p.add_argument("--card", action="store_true", help="write the results into MODEL_DIR/README.md")
    p.add_argument("--check", action="store_true", help="exit with status 1 if a target is missed")
    p.add_argument("--json", type=Path, help="also save the figures here")
    args = p.parse_args(argv)
    args.temperatures = [float(t) for t in args.temperatures.split(",")]
    args.guidance = [float(g) for g in args.guidance.split(",")]
    args.command = command("scripts.mini_melody.evaluate", argv)
    return args


# -- held-out perplexity -------------------------------------------------------------------------
def shuffled(tune: dict, rng: np.random.Generator) -> dict:
    """The tune with its pitch tokens permuted over its notes (durations, bars and labels kept)."""
    tokens = list(tune["tokens"])
    where = [i for i, t in enumerate(tokens) if t in vocab.PITCH_TOKENS]
    pitches = [tokens[i] for i in where]
    for i, j in zip(where, rng.permutation(len(pitches))):
        tokens[i] = pitches[j]
    return dict(tune, tokens=tokens)


def open_labels(tune: dict) -> dict:
    return dict(tune, labels={f: vocab.ANY for f in vocab.FIELDS})


@torch.no_grad()
def token_losses(model, tokenizer, tunes: list[dict], drop_all: bool = False) -> tuple:
    """(nats over body tokens, nats over pitch tokens, body tokens, pitch tokens, nats over the last sounding
    pitch, tunes with one) of tunes scored one by one."""
    n_prefix = len(vocab.FIELDS) + 2
    pitch_ids = set(tokenizer.convert_tokens_to_ids(vocab.PITCH_TOKENS))
    rest_id = tokenizer.convert_tokens_to_ids(vocab.REST)
    total = pitch_total = final_total = 0.0
    count = pitch_count = finals = 0
    for tune in tunes:
        drop = np.ones(len(vocab.FIELDS) + 1, dtype=bool) if drop_all else None
        ids = torch.tensor([tokenizer.convert_tokens_to_ids(tune_tokens(tune, drop))])
        logits = model(input_ids=ids).logits[0, n_prefix - 1:-1].float()
        target = ids[0, n_prefix:]
        nll = F.cross_entropy(logits, target, reduction="none")
        is_pitch = torch.tensor([int(t) in pitch_ids for t in target])
        total += float(nll.sum())
        pitch_total += float(nll[is_pitch].sum())
        count += len(target)
        pitch_count += int(is_pitch.sum())
        sounding = [i for i, t in enumerate(target.tolist()) if t in pitch_ids and t != rest_id]
        if sounding:
            final_total += float(nll[sounding[-1]])
            finals += 1
    return total, pitch_total, count, pitch_count, final_total, finals


def relabel(tune: dict, field: str, value: str) -> dict:
    return dict(tune, labels=dict(tune["labels"], **{field: value}))


def wrong_values(known: list[str], value: str, k: int = 3) -> list[str]:
    """Up to k other values of a field, spread over its list (fixed: no randomness)."""
    others = [v for v in known if v != value]
    if len(others) <= k:
        return others
    return [others[round(i * len(others) / k)] for i in range(k)]


def label_effects(model, tokenizer, tunes: list[dict], known: dict[str, list[str]]) -> dict:
    """Per field, over the held-out tunes whose label of that field is known: perplexity per body token with the
    true labels, with that field "any" (the others kept), and with that field set to another value (each tune
    scored with up to three other values, spread over the field's list; the nats averaged over them). Also
    the pitch perplexity, and the loss of the last pitch (the final: it defines the mode)."""
    out = {}
    for field in vocab.FIELDS:
        rows = [t for t in tunes if t["labels"][field] != vocab.ANY]
        if not rows:
            continue
        true = token_losses(model, tokenizer, rows)
        open_ = token_losses(model, tokenizer, [relabel(t, field, vocab.ANY) for t in rows])
        wrong = [0.0, 0.0, 0, 0, 0.0, 0]
        for t in rows:
            for v in wrong_values(known[field], t["labels"][field]):
                r = token_losses(model, tokenizer, [relabel(t, field, v)])
                wrong = [a + b for a, b in zip(wrong, r)]
        out[field] = {"tunes": len(rows)}
        for name, (total, pitch_total, count, pitch_count, final_total, finals) in (
                ("true", true), ("any", open_), ("wrong", wrong)):
            out[field][name] = {"ppl": math.exp(total / count), "pitch_ppl": math.exp(pitch_total / pitch_count),
                                "final_ppl": math.exp(final_total / max(finals, 1))}
    return out


def perplexities(model, tokenizer, tunes: list[dict]) -> dict:
    rng = np.random.default_rng(SEED)
    variants = {"real": (tunes, False), "shuffled": ([shuffled(t, rng) for t in tunes], False),
                "labels any": (tunes, True)}
    out = {}
    for name, (rows, drop_all) in variants.items():
        total, pitch_total, count, pitch_count, _, _ = token_losses(model, tokenizer, rows, drop_all)
        out[name] = {"ppl": math.exp(total / count), "pitch_ppl": math.exp(pitch_total / pitch_count),
                     "tokens": count, "pitch_tokens": pitch_count}
    return out


# -- generation ----------------------------------------------------------------------------------
def in_meter(notes, meter: str) -> bool:
    """Every bar but the first and last fills the meter exactly; those two do not overflow it."""
    full = meter_quarters(meter)
    sums: dict[int, float] = {}
    for note in notes:
        sums[note.bar] = sums.get(note.bar, 0.0) + note.duration
    values = [sums[b] for b in sorted(sums)]
    if not values:
        return False
    inner_ok = all(abs(v - full) < 1e-6 for v in values[1:-1])
    return inner_ok and values[0] <= full + 1e-6 and values[-1] <= full + 1e-6


SAMPLERS = {"model": False, "form kept": True}  # MelodyJob.strict_form: the meter and the final kept


def generation(mm, args) -> dict:
    from studio.music.melody import MelodyJob, sample
    from studio.text.sampling import Sampling
    out = {}
    for temperature in args.temperatures:
        sampling = Sampling(temperature, 0, 1.0, 1.0)
        for sampler, strict in SAMPLERS.items():
            pieces = ok_meter = ok_final = complete = any_hits = any_pieces = 0
            by_mode = {m: [0, 0] for m in MODES}
            free_finals = {m: 0 for m in MODES}
            examples = {}
            for mi, meter in enumerate(METERS):
                for di, mode in enumerate(MODES):
                    for r in range(args.samples):
                        seed = SEED + (mi * len(MODES) + di) * args.samples + r
                        melody = sample(mm, MelodyJob(meter, mode, None, None, args.bars, sampling, seed, strict))
                        pieces += 1
                        ok_meter += in_meter(melody.notes, meter)
                        ok_final += melody.final == mode
                        complete += melody.complete
                        by_mode[mode][0] += melody.final == mode
                        by_mode[mode][1] += 1
                        if r == 0 and mi == 0:
                            examples[mode] = melody
                        if di == 0:  # the same seeds with the mode left open: the chance of hitting a final
                            free = sample(mm, MelodyJob(meter, None, None, None, args.bars, sampling, seed, strict))
                            any_hits += free.final == MODES[r % len(MODES)]
                            any_pieces += 1
                            if free.final in free_finals:
                                free_finals[free.final] += 1
            out[f"{temperature}|{sampler}"] = {
                "temperature": temperature, "sampler": sampler,
                "pieces": pieces, "in_meter": ok_meter / pieces, "on_final": ok_final / pieces,
                "complete": complete / pieces, "on_final_mode_any": any_hits / max(any_pieces, 1),
                "on_final_by_mode": {m: h / max(n, 1) for m, (h, n) in by_mode.items()},
                "mode_any_finals": {m: c / max(any_pieces, 1) for m, c in free_finals.items()},
                "examples": {m: " ".join(_name(n.pitch) for n in mel.notes) for m, mel in examples.items()},
            }
    return out


# -- label effects on generated pieces -----------------------------------------------------------
STATS = ("repeat", "pitch", "short", "notes_per_bar")
STAT_NAMES = {"repeat": "repeated notes", "pitch": "mean pitch", "short": "16th notes", "notes_per_bar": "notes/bar"}
REGIONS = ("Shanxi", "Shandong", "Jiangsu", "Guangdong", "Qinghai", "Sichuan")


def piece_stats(pieces: list[tuple[list, int]]) -> dict:
    """Pooled statistics of pieces [(notes, bars)]: the share of consecutive sounding notes on the same pitch
    (rests skipped), the mean MIDI pitch (gong = C), the share of notes (rests too) one sixteenth long, notes
    (rests too) per bar, and the share of pieces whose last sounding note is each mode's final."""
    from studio.music.labels import mode_of
    repeats = pairs = short = notes = bars = 0
    pitches: list[int] = []
    finals = {m: 0 for m in MODES}
    for piece, n_bars in pieces:
        sounding = [n.pitch for n in piece if n.pitch is not None]
        pitches += sounding
        repeats += sum(a == b for a, b in zip(sounding, sounding[1:]))
        pairs += max(len(sounding) - 1, 0)
        short += sum(abs(n.duration - 0.25) < 1e-9 for n in piece)
        notes += len(piece)
        bars += n_bars
        final = mode_of("C", sounding[-1]) if sounding else None
        if final in finals:
            finals[final] += 1
    return {"pieces": len(pieces), "repeat": repeats / max(pairs, 1), "pitch": float(np.mean(pitches or [0])),
            "short": short / max(notes, 1), "notes_per_bar": notes / max(bars, 1),
            "finals": {m: c / max(len(pieces), 1) for m, c in finals.items()}}


def tune_pieces(tunes: list[dict]) -> list[tuple[list, int]]:
    return [(vocab.notes_of(t["tokens"]), t["bars"]) for t in tunes]


def variants(args) -> dict[str, tuple[bool, float]]:
    """The genre table's generators: each sampler (SAMPLERS) at each --guidance value (named when not 1)."""
    return {name + ("" if g == 1 else f", guidance {g:g}"): (strict, g)
            for g in args.guidance for name, strict in SAMPLERS.items()}


def _guided(g: float) -> str:
    return "generated" + ("" if g == 1 else f", guidance {g:g}")


def genre_effects(mm, tunes: list[dict], args) -> dict:
    """Per genre (and "any"): statistics of the data's 2/4 tunes of that genre, and of --style-samples generated
    pieces of --style-bars bars in 2/4 (mode and region "any", temperature 0.9), for each variant."""
    from studio.music.melody import MelodyJob, sample
    from studio.text.sampling import Sampling
    sampling = Sampling(0.9, 0, 1.0, 1.0)
    out = {}
    for genre in list(mm.labels["genre"]) + [vocab.ANY]:
        data = [t for t in tunes
                if t["labels"]["meter"] == "2/4" and genre in (vocab.ANY, t["labels"]["genre"])]
        row = {"data": piece_stats(tune_pieces(data))}
        for name, (strict, g) in variants(args).items():
            pieces = []
            for r in range(args.style_samples):
                m = sample(mm, MelodyJob("2/4", None, None, None if genre == vocab.ANY else genre, args.style_bars,
                                         sampling, SEED + 10_000 + r, strict, guidance=g))
                pieces.append((m.notes, args.style_bars))
            row[name] = piece_stats(pieces)
        out[genre] = row
    return out


def genre_agreement(genres: dict, source: str) -> tuple[int, int]:
    """(statistics that move from the first genre the way the data's do, statistics compared) over the genres."""
    ref = next(iter(genres))
    hits = total = 0
    for genre, row in genres.items():
        if genre in (ref, vocab.ANY):
            continue
        hits += sum(np.sign(row[source][k] - genres[ref][source][k]) == np.sign(row["data"][k] - genres[ref]["data"][k])
                    for k in STATS)
        total += len(STATS)
    return int(hits), total


def region_effects(mm, tunes: list[dict], args) -> dict:
    """Per region of REGIONS the model knows (and "any"): mode mix (the share of pieces ending on each mode's
    final) and mean pitch of the data's tunes of that region and of --region-samples generated pieces of 8 bars
    (meter, mode and genre "any", temperature 0.9; with nothing named the grammar adds nothing), at each guidance."""
    from studio.music.melody import MelodyJob, sample
    from studio.text.sampling import Sampling
    sampling = Sampling(0.9, 0, 1.0, 1.0)
    out = {}
    for region in [r for r in REGIONS if r in mm.labels["region"]] + [vocab.ANY]:
        data = [t for t in tunes if region == vocab.ANY or t["labels"]["region"] == region]
        out[region] = {"data": piece_stats(tune_pieces(data))}
        for g in args.guidance:
            pieces = []
            for r in range(args.region_samples):
                m = sample(mm, MelodyJob(None, None, None if region == vocab.ANY else region, None, 8, sampling,
                                         SEED + 20_000 + r, guidance=g))
                pieces.append((m.notes, 8))
            out[region][_guided(g)] = piece_stats(pieces)
    return out


def region_correlation(regions: dict, source: str) -> dict:
    named = [k for k in regions if k != vocab.ANY]
    corr = {m: _corr([regions[k]["data"]["finals"][m] for k in named],
                     [regions[k][source]["finals"][m] for k in named]) for m in MODES}
    corr["pitch"] = _corr([regions[k]["data"]["pitch"] for k in named], [regions[k][source]["pitch"] for k in named])
    return corr


def _corr(a: list[float], b: list[float]) -> float:
    return float(np.corrcoef(a, b)[0, 1]) if len(a) > 2 and np.std(a) > 0 and np.std(b) > 0 else float("nan")


def _name(pitch) -> str:
    from studio.music.melody import pitch_name
    return pitch_name(pitch)[0].split(" · ")[-1] if pitch is not None else "0"


# -- main ----------------------------------------------------------------------------------------
def checks(result: dict) -> dict:
    """The targets met (None: not measured)."""
    ppl = result["perplexity"]
    result["pitch_ratio"] = ppl["real"]["pitch_ppl"] / ppl["shuffled"]["pitch_ppl"]
    g = result["generation"].get("0.9|form kept")
    out = {
        "pitch ppl <= 2/3 of shuffled": result["pitch_ratio"] <= 2 / 3,
        "in meter at T=0.9 (form kept) = 100%": None if g is None else g["in_meter"] == 1.0,
        "on the mode's final at T=0.9 (form kept) >= 60%": None if g is None else g["on_final"] >= 0.6,
    }
    effects = result["label_effects"]
    for field in ("mode", "genre", "region"):
        if field in effects:
            e = effects[field]
            out[f"held-out ppl: true {field} < {field} any < wrong, wrong >= 1.005 x true"] = (
                e["true"]["ppl"] < e["any"]["ppl"] < e["wrong"]["ppl"]
                and e["wrong"]["ppl"] >= 1.005 * e["true"]["ppl"])
    top = max(result.get("guidance", [1.0]))
    if result.get("genres") and top != 1:
        hits, total = genre_agreement(result["genres"], f"form kept, guidance {top:g}")
        out[f"genre statistics move from Xiaodiao as the data's (form kept, guidance {top:g}) >= 2/3"] = \
            hits >= 2 / 3 * total
    if result.get("regions") and top != 1:
        out[f"region mean pitch follows the data (correlation, guidance {top:g}) >= 0.5"] = \
            region_correlation(result["regions"], _guided(top))["pitch"] >= 0.5
    m = result["generation"].get("0.9|model")
    if m is not None:
        chance = float(np.mean(list(m["mode_any_finals"].values())))
        out["model alone on the asked final at T=0.9 >= 2x unasked (mean over modes)"] = (
            m["on_final"] >= 2 * chance)
    return out


def evaluate(args) -> dict:
    from transformers.utils import logging as hf_logging

    from studio.core.specs import ModelSpec
    from studio.music.melody import load_melody
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    mm = load_melody(ModelSpec(key="mini-melody", task="music", loader="melody", path=args.model_dir), "cpu")
    held = read_tunes(args.data_dir / "eval.jsonl")
    if args.max_tunes:
        held = held[:args.max_tunes]
    tunes = read_tunes(args.data_dir / "train.jsonl") + read_tunes(args.data_dir / "eval.jsonl")
    result = {"model_dir": str(args.model_dir), "held_out_tunes": len(held),
              "perplexity": perplexities(mm.model, mm.tokenizer, held),
              "label_effects": label_effects(mm.model, mm.tokenizer, held, mm.labels)}
    print(f"perplexities ({time.time() - t0:.0f} s)", flush=True)
    result["generation"] = generation(mm, args)
    print(f"generation ({time.time() - t0:.0f} s)", flush=True)
    result["genres"] = genre_effects(mm, tunes, args) if args.style_samples else {}
    result["regions"] = region_effects(mm, tunes, args) if args.region_samples else {}
    result["guidance"] = args.guidance
    print(f"genres and regions ({time.time() - t0:.0f} s)", flush=True)
    result["checks"] = checks(result)
    result["seconds"] = time.time() - t0
    return result


def tables(result: dict, args) -> str:
    r, p = result, result["perplexity"]
    ok = {True: "yes", False: "**no**", None: "n/a"}
    out = [
        f"Held-out tunes: {r['held_out_tunes']} ({p['real']['tokens']} body tokens, {p['real']['pitch_tokens']} "
        "pitch tokens); perplexity per token:",
        "",
        "| variant | all body tokens | pitch tokens |", "|---|---|---|",
        f"| held-out tunes, labels given | {p['real']['ppl']:.2f} | {p['real']['pitch_ppl']:.2f} |",
        f"| same tunes, pitches shuffled (rhythm and bars kept) | {p['shuffled']['ppl']:.2f} | "
        f"{p['shuffled']['pitch_ppl']:.2f} |",
        f"| same tunes, all labels \"any\" | {p['labels any']['ppl']:.2f} | {p['labels any']['pitch_ppl']:.2f} |",
        "",
        f"Generated: {args.samples} pieces per (meter, mode) for meters {', '.join(METERS)} × the five modes, "
        f"{args.bars} bars, region and genre \"any\", top-k 0, top-p 1 (the studio's sampler). *In meter*: every bar "
        "but the first and last fills the meter, and those two do not overflow it. *On final*: the last note is "
        "the requested mode's final (gong = C: 宫 C, 商 D, 角 E, 徵 G, 羽 A). *Mode any*: the same seeds with the "
        "mode left open, scored against a mode named in turn (the chance of hitting a final unasked).",
        "",
        "*Sampler*: `model` is the model alone (`MelodyJob(strict_form=False)`: only the bar count is kept); "
        "`form kept` is the studio's default grammar, which masks the durations that would overflow a bar of the "
        "named meter, and in the last bar lets only a note on the named mode's final complete it (the model still "
        "picks every note): those two columns are 100% by construction; the `model` rows are what it learnt.",
        "",
        "| temperature | sampler | pieces | in meter | on final | mode any: on final | complete | on final by "
        "mode (宫 商 角 徵 羽) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in r["generation"].values():
        by = " / ".join(f"{s['on_final_by_mode'][m]:.0%}" for m in MODES)
        out.append(f"| {s['temperature']} | {s['sampler']} | {s['pieces']} | {s['in_meter']:.1%} | "
                   f"{s['on_final']:.1%} | {s['on_final_mode_any']:.1%} | {s['complete']:.0%} | {by} |")
    chance = [s for s in r["generation"].values() if s["sampler"] == "model"]
    if chance:
        out += ["", "Model alone, on the requested final per mode against the chance: the share of the *mode any* "
                "pieces (same sampler and temperature) that end on that final unasked:", "",
                "| temperature | " + " | ".join(f"{NAMES['mode'][m]['zh']} {m}: asked / unasked" for m in MODES) + " |",
                "|---|" + "---|" * len(MODES)]
        for s in chance:
            out.append(f"| {s['temperature']} | " + " | ".join(
                f"{s['on_final_by_mode'][m]:.0%} / {s['mode_any_finals'][m]:.0%}" for m in MODES) + " |")
    out += ["", effects_tables(r, args)]
    out += ["", "| check | met |", "|---|---|"] + [f"| {k} | {ok[v]} |" for k, v in r["checks"].items()]
    return "\n".join(out)


def _stat(row: dict, key: str) -> str:
    v = row[key]
    return f"{v:.1f}" if key == "pitch" else f"{v:.2f}" if key == "notes_per_bar" else f"{v:.1%}"


def effects_tables(r: dict, args) -> str:
    out = ["**Do the labels act?** Held-out perplexity per body token, per field over the held-out tunes whose "
           "label of that field is known: with the true labels, with that field \"any\" (the others kept), and "
           "with that field set to another value (up to three others per tune, spread over the field's values). "
           "*Final*: the perplexity of each tune's last sounding pitch alone (the note that defines the mode).", "",
           "| field | tunes | true | any | wrong | pitch ppl true / any / wrong | final ppl true / any / wrong |",
           "|---|---|---|---|---|---|---|"]
    for field, e in r["label_effects"].items():
        out.append(f"| {field} | {e['tunes']} | {e['true']['ppl']:.3f} | {e['any']['ppl']:.3f} | "
                   f"{e['wrong']['ppl']:.3f} | {e['true']['pitch_ppl']:.2f} / {e['any']['pitch_ppl']:.2f} / "
                   f"{e['wrong']['pitch_ppl']:.2f} | {e['true']['final_ppl']:.2f} / {e['any']['final_ppl']:.2f} / "
                   f"{e['wrong']['final_ppl']:.2f} |")
    if r.get("genres"):
        genres = r["genres"]
        ref = next(iter(genres))
        names = list(variants(args))
        out += ["", f"Genre (流派): statistics of the data's 2/4 tunes of each genre (training and held-out) against "
                f"{args.style_samples} generated pieces per genre and variant ({args.style_bars} bars of 2/4, mode "
                "and region \"any\", temperature 0.9; *guidance*: the studio's label guidance, 1 = off). *Repeated "
                "notes*: consecutive sounding notes on the same pitch; *16th notes*: notes one sixteenth long; "
                f"*notes/bar* counts rests too. *Agrees with the data*: of the {len(STATS)} statistics, how many move "
                f"from {ref} the same way in the pieces as in the data.", "",
                "| genre | source | pieces | " + " | ".join(STAT_NAMES[k] for k in STATS) + " | agrees with the data |",
                "|---|---|---|" + "---|" * (len(STATS) + 1)]
        for genre, row in genres.items():
            zh = "" if genre == vocab.ANY else NAMES.get("genre", {}).get(genre, {}).get("zh", genre)
            for source in ("data", *names):
                s = row[source]
                agree = ""
                if source != "data" and genre not in (ref, vocab.ANY):
                    hits = sum(np.sign(s[k] - genres[ref][source][k])
                               == np.sign(row["data"][k] - genres[ref]["data"][k]) for k in STATS)
                    agree = f"{hits}/{len(STATS)}"
                out.append(f"| {zh} {genre} | {source} | {s['pieces']} | " + " | ".join(_stat(s, k) for k in STATS)
                           + f" | {agree} |")
        out += ["", "Over the genres: " + ", ".join(
            "{} {}/{}".format(name, *genre_agreement(genres, name)) for name in names) + "."]
    if r.get("regions"):
        regions = r["regions"]
        sources = ["data"] + [_guided(g) for g in args.guidance]
        out += ["", f"Region (地区): mode mix (the share of pieces ending on each mode's final) and mean pitch of the "
                f"data's tunes of each region (all meters) against {args.region_samples} generated pieces per "
                "region and guidance (8 bars, meter, mode and genre \"any\", temperature 0.9).", "",
                "| region | source | pieces | " + " | ".join(f"{NAMES['mode'][m]['zh']} {m}" for m in MODES)
                + " | mean pitch |", "|---|---|---|" + "---|" * (len(MODES) + 1)]
        for region, row in regions.items():
            zh = "" if region == vocab.ANY else NAMES.get("region", {}).get(region, {}).get("zh", region)
            for source in sources:
                s = row[source]
                out.append(f"| {zh} {region} | {source} | {s['pieces']} | "
                           + " | ".join(f"{s['finals'][m]:.0%}" for m in MODES) + f" | {s['pitch']:.1f} |")
        named = [k for k in regions if k != vocab.ANY]
        r["region_correlation"] = {source: region_correlation(regions, source) for source in sources[1:]}
        out += ["", f"Correlation over these {len(named)} regions between the data and the generated pieces:"]
        for source, corr in r["region_correlation"].items():
            out.append(f"- {source}: " + ", ".join(f"{m} share {corr[m]:+.2f}" for m in MODES)
                       + f", mean pitch {corr['pitch']:+.2f}")
    return "\n".join(out)


def examples(result: dict) -> str:
    g = result["generation"].get("0.9|form kept") or next(iter(result["generation"].values()))
    out = [f"Examples (2/4, temperature {g['temperature']}, {g['sampler']}, first seed; the degrees of the notes "
           "under gong = C, 0 a rest):", ""]
    for mode, text in g["examples"].items():
        out.append(f"- {NAMES['mode'][mode]['zh']} {mode}: {text}")
    return "\n".join(out)


def write_card(path: Path, result: dict, args) -> None:
    text = path.read_text(encoding="utf-8")
    if MARK_START not in text or MARK_END not in text:
        raise SystemExit(f"{path} has no {MARK_START} ... {MARK_END} section")
    body = "\n\n".join([
        f"`{args.command}` ({datetime.date.today().isoformat()}, {args.threads} thread(s), "
        f"{result['seconds']:.0f} s):", tables(result, args), examples(result)])
    head, rest = text.split(MARK_START, 1)
    tail = rest.split(MARK_END, 1)[1]
    path.write_text(f"{head}{MARK_START}\n{body}\n{MARK_END}{tail}", encoding="utf-8")


def main(argv=None) -> dict:
    args = parse_args(argv)
    result = evaluate(args)
    print(tables(result, args))
    print()
    print(examples(result))
    print(f"\n({result['seconds']:.1f} s)")
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    if args.card:
        write_card(args.model_dir / "README.md", result, args)
    if args.check and not all(v for v in result["checks"].values() if v is not None):
        raise SystemExit(1)
    return result


if __name__ == "__main__":
    main()
