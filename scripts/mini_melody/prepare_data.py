"""Prepare the mini-melody training data from the Chinese folk songs of the Essen collection (music21's corpus).

    python -m scripts.mini_melody.prepare_data runs/mini-melody-data [--corpus DIR]

Reads --corpus/han1.abc and han2.abc (default: the essenFolksong folder of the installed music21) with this
package's own ABC reader (abc.py), derives each tune's labels (studio.music.labels: meter from M:, mode from the
key signature and the final note, region from O:, genre from the first word of R:), transposes it to gong = C and
turns it into tokens (studio.music.vocab). Skipped, and counted: tunes the reader refuses, tunes with a note that
is not a whole number of sixteenths (L:1/32 files), pitches outside the vocabulary, tunes longer than the model's
context. A label value held by fewer than --min-tunes kept tunes becomes "any", and so does the meter of a tune
whose inner bars do not all fill its M: (mixed meters). Writes to OUT_DIR:

    train.jsonl, eval.jsonl  one tune per line: {"number", "labels", "bars", "tokens"} (body tokens)
    labels.json              the values the model knows, per field (the rest are "any")
    tokenizer/               a WordLevel tokenizer over the vocabulary (PreTrainedTokenizerFast)
    meta.json                counts, label statistics, corpus checksum, the command

The evaluation split is fixed by a hash of each tune's tokens (--eval-percent). Deterministic throughout.
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import json
import shlex
import sys
import time
from fractions import Fraction
from pathlib import Path

from scripts.mini_melody import abc
from studio.music import labels as L
from studio.music import vocab


CONTEXT = 512  # n_positions of the model: prefix + body must fit
FILES = ("han1.abc", "han2.abc")


def default_corpus() -> Path:
    import music21
    return Path(music21.__file__).parent / "corpus" / "essenFolksong"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--corpus", type=Path, default=None, help="folder of han1.abc / han2.abc (default: music21's)")
    p.add_argument("--files", default=",".join(FILES), help="ABC files to read in --corpus (comma-separated)")
    p.add_argument("--eval-percent", type=float, default=8.0, help="share of tunes held out for evaluation")
    p.add_argument("--min-tunes", type=int, default=15, help="keep a label value held by at least this many tunes")
    return p.parse_args(argv)


def stable_fraction(text: str) -> float:
    return int(hashlib.sha1(text.encode("utf-8")).hexdigest()[:12], 16) / 16**12


def tune_notes(tune: abc.Tune, shift: int) -> list:
    """The tune's Notes (gong = C): ties inside a bar merged, durations as read (checked by vocab later)."""
    from studio.music.notes import Note
    notes, start = [], 0.0
    for index, bar in enumerate(tune.bars):
        merged: list[list] = []
        for event in bar:
            if merged and merged[-1][2] and merged[-1][0] == event.pitch:
                merged[-1][1] += event.quarters
                merged[-1][2] = event.tie
            else:
                merged.append([event.pitch, event.quarters, event.tie])
        for pitch, quarters, _tie in merged:
            notes.append(Note(None if pitch is None else pitch + shift, start, float(quarters), index))
            start += float(quarters)
    return notes


def meter_label(tune: abc.Tune) -> str | None:
    """The M: value when every inner bar fills it and the first and last do not overflow it, else None."""
    try:
        quarters = Fraction(tune.meter) * 4
    except (ValueError, ZeroDivisionError):
        return None
    sums = [sum(e.quarters for e in bar) for bar in tune.bars]
    if sums and all(s == quarters for s in sums[1:-1]) and sums[0] <= quarters and sums[-1] <= quarters:
        return tune.meter
    return None


def read(corpus: Path, files: list[str]) -> tuple[list[dict], collections.Counter, str]:
    """Every readable tune as {"number", "raw" (labels before the threshold), "bars", "tokens"}."""
    digest = hashlib.sha256()
    stats = collections.Counter()
    tunes = []
    for name in files:
        path = corpus / name
        digest.update(name.encode() + b"\0" + path.read_bytes())
        read_ok, failed = abc.read_tunes(path)
        stats["read"] += len(read_ok) + len(failed)
        stats["skipped_unreadable"] += len(failed)
        for tune in read_ok:
            final = abc.final_pitch(tune)
            if final is None or not tune.bars:
                stats["skipped_empty"] += 1
                continue
            gong = L.gong_of(tune.key)
            notes = tune_notes(tune, vocab.transpose_to_gong_c(gong))
            try:
                body = vocab.tokens_of(notes)
            except ValueError as exc:
                stats["skipped_not_sixteenths" if "sixteenths" in str(exc) else "skipped_pitch_range"] += 1
                continue
            if len(body) + len(vocab.prefix(None, None, None, None, None)) > CONTEXT:
                stats["skipped_too_long"] += 1
                continue
            raw = {"meter": meter_label(tune), "mode": L.mode_of(tune.key, final),
                   "region": L.region_of(tune.headers.get("O", "")), "genre": L.genre_of(tune.headers.get("R", ""))}
            stats["mixed_meter"] += raw["meter"] is None and tune.meter != "none"
            tunes.append({"number": tune.number, "raw": raw, "M": tune.meter, "bars": len(tune.bars),
                          "tokens": body})
    return tunes, stats, digest.hexdigest()


def main(argv=None) -> dict:
    args = parse_args(argv)
    t0 = time.time()
    corpus = args.corpus or default_corpus()
    tunes, stats, checksum = read(corpus, args.files.split(","))

    counts = {f: collections.Counter(t["raw"][f] for t in tunes) for f in vocab.FIELDS}
    known = {f: sorted((v for v, n in counts[f].items() if v is not None and n >= args.min_tunes),
                       key=lambda v: (-counts[f][v], v)) for f in vocab.FIELDS}
    train, held = [], []
    for t in tunes:
        t["labels"] = {f: t["raw"][f] if t["raw"][f] in known[f] else vocab.ANY for f in vocab.FIELDS}
        row = {"number": t["number"], "labels": t["labels"], "bars": t["bars"], "tokens": t["tokens"]}
        (held if stable_fraction("split:" + " ".join(t["tokens"])) * 100 < args.eval_percent else train).append(row)
    if not train or not held:
        raise SystemExit(f"empty split (train {len(train)}, eval {len(held)}): "
                         "use more tunes or another --eval-percent")

    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train.jsonl", train), ("eval.jsonl", held)):
        (args.out_dir / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                         encoding="utf-8")
    (args.out_dir / "labels.json").write_text(json.dumps(known, indent=1) + "\n", encoding="utf-8")
    build_tokenizer(vocab.vocabulary(known)).save_pretrained(args.out_dir / "tokenizer")

    meta = {
        "command": "python -m scripts.mini_melody.prepare_data " + " ".join(
            shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])),
        "corpus_files": args.files.split(","),
        "corpus_sha256": checksum,
        "tunes_read": stats["read"],
        "skipped_unreadable": stats["skipped_unreadable"],
        "skipped_empty": stats["skipped_empty"],
        "skipped_not_sixteenths": stats["skipped_not_sixteenths"],
        "skipped_pitch_range": stats["skipped_pitch_range"],
        "skipped_too_long": stats["skipped_too_long"],
        "tunes_kept": len(tunes),
        "mixed_meter_tunes": stats["mixed_meter"],
        "train_tunes": len(train),
        "eval_tunes": len(held),
        "train_tokens": sum(len(r["tokens"]) for r in train),
        "eval_tokens": sum(len(r["tokens"]) for r in held),
        "eval_percent": args.eval_percent,
        "min_tunes": args.min_tunes,
        "label_counts": {f: {str(k) if k is not None else "(none)": n for k, n in counts[f].most_common()}
                         for f in vocab.FIELDS},
        "labels": known,
        "vocab_size": len(vocab.vocabulary(known)),
        "context": CONTEXT,
    }
    (args.out_dir / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    for k, v in meta.items():
        print(f"{k}: {v}")
    print(f"done in {time.time() - t0:.1f} s -> {args.out_dir}")
    return meta


def build_tokenizer(tokens: list[str]):
    """A WordLevel tokenizer over the vocabulary (tokens separated by spaces), wrapped for AutoTokenizer."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    core = Tokenizer(models.WordLevel({t: i for i, t in enumerate(tokens)}, unk_token=vocab.PAD))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token=vocab.BOS, eos_token=vocab.EOS,
                                   pad_token=vocab.PAD, model_max_length=CONTEXT)


if __name__ == "__main__":
    main()
