"""Prepare the mini-poem training data from the chinese-poetry Tang collection.

    python -m scripts.mini_poem.prepare_data /path/to/chinese-poetry/tang runs/mini-poem-data

Reads every *.json in CORPUS_DIR (arrays of {"title", "paragraphs", ...} in traditional characters), converts
to simplified characters with OpenCC (t2s), removes editors' notes, keeps the poems whose lines are all 5 or
all 7 characters (at least two lines, one sample fits the model's context), drops duplicate bodies, and writes
to OUT_DIR:

    train.txt, eval.txt   one formatted poem per line (see poemlib: "title：body" or "body")
    tokenizer/            the character tokenizer (characters seen >= --min-count times in train.txt)
    meta.json             counts, corpus checksum, the command

The evaluation split is fixed by a hash of each poem's body (--eval-percent of the poems), so it does not
depend on file order and a poem and its duplicates always land on the same side. Deterministic throughout.
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import json
import shlex
import sys
import time
from pathlib import Path

from scripts.mini_poem import poemlib


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("corpus_dir", type=Path, help="folder of the corpus's *.json files (e.g. chinese-poetry/tang)")
    p.add_argument("out_dir", type=Path)
    p.add_argument("--eval-percent", type=float, default=2.0, help="share of poems held out for evaluation")
    p.add_argument("--title-percent", type=float, default=50.0,
                   help="share of poems (with a short title) written as 'title：body'")
    p.add_argument("--min-count", type=int, default=3, help="keep characters seen at least this often")
    p.add_argument("--pattern", default="*.json", help="corpus files to read (glob in CORPUS_DIR)")
    return p.parse_args(argv)


def read_corpus(corpus_dir: Path, pattern: str) -> tuple[list[dict], str, list[str]]:
    files = sorted(corpus_dir.glob(pattern))
    if not files:
        raise SystemExit(f"no {pattern} files in {corpus_dir}")
    digest = hashlib.sha256()
    poems: list[dict] = []
    for f in files:
        raw = f.read_bytes()
        digest.update(f.name.encode() + b"\0" + raw)
        data = json.loads(raw)
        if not isinstance(data, list):
            raise SystemExit(f"{f}: expected a JSON array of poems")
        poems.extend(data)
    return poems, digest.hexdigest(), [f.name for f in files]


def main(argv=None) -> dict:
    args = parse_args(argv)
    from opencc import OpenCC
    t0 = time.time()
    cc = OpenCC("t2s")
    poems, checksum, names = read_corpus(args.corpus_dir, args.pattern)

    stats = collections.Counter(read=len(poems))
    seen: set[str] = set()
    train: list[str] = []
    held: list[str] = []
    for poem in poems:
        body = poemlib.clean_body(poem.get("paragraphs") or [])
        if body is None:
            stats["dropped_form"] += 1
            continue
        body = cc.convert(body)
        if body in seen:
            stats["dropped_duplicate"] += 1
            continue
        seen.add(body)
        title = poemlib.clean_title(cc.convert(poem.get("title") or ""))
        if title and poemlib.stable_fraction("title:" + body) * 100 >= args.title_percent:
            title = None
        text = poemlib.format_poem(title, body)
        if len(text) + 2 > poemlib.CONTEXT:  # <s> text </s> must fit the context
            stats["dropped_long"] += 1
            continue
        stats["with_title"] += title is not None
        (held if poemlib.stable_fraction("split:" + body) * 100 < args.eval_percent else train).append(text)
    if not train or not held:
        raise SystemExit(f"empty split (train {len(train)}, eval {len(held)}): "
                         "use more poems or another --eval-percent")

    counts = collections.Counter(ch for text in train for ch in text)
    chars = sorted((c for c, n in counts.items() if n >= args.min_count), key=lambda c: (-counts[c], c))
    for ch in poemlib.PUNCT + poemlib.TITLE_SEP:  # the format's own characters are always in the vocabulary
        if ch not in chars:
            chars.append(ch)
    vocab = set(chars)

    def unk_rate(texts):
        total = sum(len(t) for t in texts)
        return sum(ch not in vocab for t in texts for ch in t) / max(total, 1)

    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "train.txt").write_text("\n".join(train) + "\n", encoding="utf-8")
    (args.out_dir / "eval.txt").write_text("\n".join(held) + "\n", encoding="utf-8")
    tokenizer = poemlib.build_tokenizer(chars)
    tokenizer.save_pretrained(args.out_dir / "tokenizer")

    meta = {
        "command": "python -m scripts.mini_poem.prepare_data " + " ".join(
            shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])),
        "corpus_files": len(names),
        "corpus_sha256": checksum,
        "opencc": "t2s (opencc-python-reimplemented)",
        "poems_read": stats["read"],
        "dropped_not_5_or_7_char_lines": stats["dropped_form"],
        "dropped_duplicates": stats["dropped_duplicate"],
        "dropped_too_long": stats["dropped_long"],
        "poems_kept": len(train) + len(held),
        "poems_with_title": stats["with_title"],
        "train_poems": len(train),
        "eval_poems": len(held),
        "train_chars": sum(len(t) for t in train),
        "eval_chars": sum(len(t) for t in held),
        "eval_percent": args.eval_percent,
        "title_percent": args.title_percent,
        "min_count": args.min_count,
        "distinct_train_chars": len(counts),
        "vocab_size": len(chars) + len(poemlib.SPECIALS),
        "unk_rate_train": round(unk_rate(train), 6),
        "unk_rate_eval": round(unk_rate(held), 6),
    }
    (args.out_dir / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    for k, v in meta.items():
        print(f"{k}: {v}")
    print(f"done in {time.time() - t0:.1f} s -> {args.out_dir}")
    return meta


if __name__ == "__main__":
    main()
