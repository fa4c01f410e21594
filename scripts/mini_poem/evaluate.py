"""Evaluate a mini-poem model folder on prepare_data.py's held-out split and on fixed generation starts.

    python -m scripts.mini_poem.evaluate assets/models/mini-poem runs/mini-poem-data [--card] [--check]

Prints Markdown tables:
1. Held-out character perplexity (every token after <s>, </s> included) against a unigram model of the
   training split with add-one smoothing, on the same tokens. Target: at most 1/3 of the unigram's.
2. For each temperature (default 0.3 / 0.7 / 1.0 / 1.3; top-k 0, top-p 1), sampling from 50 fixed starts with
   fixed seeds (the same seeds at every temperature), up to 64 new tokens: the share of generated lines (text
   between ，。？！；, after a title's "：") that are 5 or 7 characters long, and distinct-2 (distinct character
   bigrams / all bigrams of the generated text). A line counts only if it holds a generated character (a start
   that is a whole line is not scored). Targets: >= 80% at 0.7; distinct-2 rising with the temperature.
3. A few greedy and sampled poems.

--card writes the tables into MODEL_DIR/README.md (between the eval markers); --check exits with status 1
when a target is missed; --json PATH saves the figures. Everything is seeded and runs in fp32 on the CPU.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import time
from pathlib import Path

import torch

from scripts.mini_poem import poemlib
from scripts.trainlib import command


# 50 fixed starts: whole first lines (5 and 7 characters), two characters, one character, titles.
STARTS = [
    "床前明月光", "白日依山尽", "春眠不觉晓", "红豆生南国", "千山鸟飞绝", "国破山河在", "空山不见人", "松下问童子",
    "离离原上草", "海上生明月", "独坐幽篁里", "移舟泊烟渚",
    "朝辞白帝彩云间", "两个黄鹂鸣翠柳", "故人西辞黄鹤楼", "月落乌啼霜满天", "清明时节雨纷纷", "远上寒山石径斜",
    "黄河远上白云间", "葡萄美酒夜光杯", "少小离家老大回", "渭城朝雨浥轻尘",
    "春风", "明月", "秋风", "江南", "故人", "长安", "白云", "青山", "孤舟", "落日", "夜雨", "归来",
    "山", "水", "花", "月", "雪", "酒", "风", "柳",
    "春晓：", "送别：", "秋夜：", "登高：", "江上：", "山中：", "月夜：", "边塞：",
]
TEMPERATURES = (0.3, 0.7, 1.0, 1.3)
SEED = 2024
MARK_START, MARK_END = "<!-- eval:start -->", "<!-- eval:end -->"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_dir", type=Path)
    p.add_argument("data_dir", type=Path, help="prepare_data.py's output folder (train.txt, eval.txt)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--starts", type=int, default=len(STARTS), help="use the first N of the 50 starts")
    p.add_argument("--samples", type=int, default=2, help="samples per start and temperature")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--temperatures", default=",".join(map(str, TEMPERATURES)))
    p.add_argument("--card", action="store_true", help="write the results into MODEL_DIR/README.md")
    p.add_argument("--check", action="store_true", help="exit with status 1 if a target is missed")
    p.add_argument("--json", type=Path, help="also save the figures here")
    args = p.parse_args(argv)
    args.temperatures = [float(t) for t in args.temperatures.split(",")]
    args.command = command("scripts.mini_poem.evaluate", argv)
    return args


def generate(model, tokenizer, start: str, temperature: float, seed: int, max_new_tokens: int) -> tuple[str, str]:
    """(decoded start, decoded continuation); temperature 0 is greedy."""
    ids = tokenizer(start, return_tensors="pt")
    torch.manual_seed(seed)
    sampling = dict(do_sample=True, temperature=temperature, top_k=0, top_p=1.0) if temperature > 0 else \
        dict(do_sample=False)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id, **sampling)
    n = ids["input_ids"].shape[1]
    return (tokenizer.decode(out[0, :n], skip_special_tokens=True),
            tokenizer.decode(out[0, n:], skip_special_tokens=True))


def score(samples: list[tuple[str, str]]) -> dict:
    """Line-length share and distinct-2 of (start, continuation) pairs."""
    lines, ok, bigrams = 0, 0, []
    for start, new in samples:
        text = start + new
        for a, b in poemlib.line_spans(text):
            if b > len(start):  # the line holds a generated character
                lines += 1
                ok += (b - a) in (5, 7)
        bigrams += [new[i:i + 2] for i in range(len(new) - 1)]
    return {"lines": lines, "lines_5_or_7": ok / max(lines, 1), "distinct_2": len(set(bigrams)) / max(len(bigrams), 1),
            "chars_per_sample": sum(len(new) for _, new in samples) / max(len(samples), 1)}


def evaluate(args) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    tokenizer = AutoTokenizer.from_pretrained(args.model_dir)
    model = AutoModelForCausalLM.from_pretrained(args.model_dir, dtype=torch.float32).eval()

    train = poemlib.encode_poems(tokenizer, poemlib.read_lines(args.data_dir / "train.txt"))
    held = poemlib.encode_poems(tokenizer, poemlib.read_lines(args.data_dir / "eval.txt"))
    model_nll = poemlib.eval_loss(model, held, tokenizer.pad_token_id)
    uni_nll = poemlib.unigram_loss(train, held, len(tokenizer))
    result = {
        "model_dir": str(args.model_dir), "held_out_poems": len(held),
        "held_out_tokens": sum(len(s) - 1 for s in held),
        "ppl_model": math.exp(model_nll), "ppl_unigram": math.exp(uni_nll),
        "ppl_ratio": math.exp(model_nll - uni_nll), "temperatures": {}, "examples": {},
    }

    starts = STARTS[:args.starts]
    for temperature in args.temperatures:
        samples = [generate(model, tokenizer, start, temperature, SEED + i * args.samples + r, args.max_new_tokens)
                   for i, start in enumerate(starts) for r in range(args.samples)]
        result["temperatures"][str(temperature)] = score(samples)
        result["examples"][str(temperature)] = [s + n for s, n in samples[:6 * args.samples:args.samples]]
    result["examples"]["greedy"] = ["".join(generate(model, tokenizer, s, 0, SEED, args.max_new_tokens))
                                    for s in ("床前明月光", "春风", "山", "送别：")]

    t07 = result["temperatures"].get("0.7")
    d2 = [result["temperatures"][str(t)]["distinct_2"] for t in sorted(args.temperatures)]
    result["checks"] = {
        "ppl <= 1/3 of unigram": result["ppl_ratio"] <= 1 / 3,
        "lines of 5 or 7 at T=0.7 >= 80%": None if t07 is None else t07["lines_5_or_7"] >= 0.8,
        "distinct-2 rises with temperature": all(a < b for a, b in zip(d2, d2[1:])),
    }
    result["seconds"] = time.time() - t0
    return result


def tables(result: dict, args) -> str:
    r = result
    ok = {True: "yes", False: "**no**", None: "n/a"}
    out = [
        "| measure | value | target | met |", "|---|---|---|---|",
        f"| held-out character perplexity ({r['held_out_poems']} poems, {r['held_out_tokens']} tokens) | "
        f"{r['ppl_model']:.1f} | ≤ {r['ppl_unigram'] / 3:.1f} | {ok[r['checks']['ppl <= 1/3 of unigram']]} |",
        f"| unigram baseline perplexity (training split, add-one) | {r['ppl_unigram']:.1f} | | |",
        f"| ratio model / unigram | {r['ppl_ratio']:.3f} | ≤ 0.333 | |",
        "",
        f"Sampling from {min(args.starts, len(STARTS))} fixed starts × {args.samples} seeds, top-k 0, top-p 1, "
        f"up to {args.max_new_tokens} new tokens:",
        "",
        "| temperature | lines scored | lines of 5 or 7 chars | distinct-2 | chars per sample |",
        "|---|---|---|---|---|",
    ]
    for t, s in r["temperatures"].items():
        out.append(f"| {t} | {s['lines']} | {s['lines_5_or_7']:.1%} | {s['distinct_2']:.3f} | "
                   f"{s['chars_per_sample']:.1f} |")
    out += ["", "| check | met |", "|---|---|"] + [f"| {k} | {ok[v]} |" for k, v in r["checks"].items()]
    return "\n".join(out)


def examples(result: dict) -> str:
    out = ["Greedy (temperature 0):", ""] + [f"- {t}" for t in result["examples"]["greedy"]]
    if "0.7" in result["examples"]:
        out += ["", "Temperature 0.7 (first seed of the first six starts):", ""]
        out += [f"- {t}" for t in result["examples"]["0.7"]]
    return "\n".join(out)


def write_card(path: Path, result: dict, args) -> None:
    text = path.read_text(encoding="utf-8")
    if MARK_START not in text or MARK_END not in text:
        raise SystemExit(f"{path} has no {MARK_START} ... {MARK_END} section")
    body = "\n\n".join([
        f"`{args.command}` ({datetime.date.today().isoformat()}, {args.threads} thread(s), "
        f"{result['seconds']:.0f} s):",
        tables(result, args), examples(result)])
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
