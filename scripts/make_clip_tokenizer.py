#!/usr/bin/env python3
"""Build a Hugging Face ``CLIPTokenizer`` folder offline from OpenAI's CLIP BPE file.

The model hub is not reachable here, so the tokenizer files that ship with
``openai/clip-vit-large-patch14`` (and, copied, with Stable Diffusion 1.5 and
SDXL base 1.0) are rebuilt from ``bpe_simple_vocab_16e6.txt.gz``, the file
OpenAI CLIP's ``SimpleTokenizer`` reads (``open_clip_torch`` ships it on PyPI)::

    pip download --no-deps -d /tmp/oc open_clip_torch
    unzip -o /tmp/oc/open_clip_torch-*.whl 'open_clip/bpe_simple_vocab_16e6.txt.gz' -d /tmp/oc
    GZ=/tmp/oc/open_clip/bpe_simple_vocab_16e6.txt.gz
    python -m scripts.make_clip_tokenizer $GZ assets/pipelines/sd15/tokenizer \
        --pad-token '<|endoftext|>' --style sd15 --check
    python -m scripts.make_clip_tokenizer $GZ assets/pipelines/sdxl/tokenizer \
        --pad-token '<|endoftext|>' --check
    python -m scripts.make_clip_tokenizer $GZ assets/pipelines/sdxl/tokenizer_2 \
        --pad-token '!' --check

``vocab.json`` holds the encoder exactly as ``SimpleTokenizer`` builds it: the
256 ``bytes_to_unicode`` characters, the same with ``</w>``, the 48,894 merges
joined, then ``<|startoftext|>`` and ``<|endoftext|>`` (49,408 ids).
``merges.txt`` is ``#version: 0.2`` followed by those merges.  The four files
are serialised byte-for-byte as published on the hub (``vocab.json``:
``json.dumps(indent=2, sort_keys=True, ensure_ascii=False)`` + newline), so
their SHA-256 equal the published ones in ``PUBLISHED_SHA256``; ``--check``
verifies that.

``tokenizer_config.json`` layouts (``--style``):
  * ``sdxl``: as in stabilityai/stable-diffusion-xl-base-1.0 ``tokenizer``
    (pad ``<|endoftext|>``) and ``tokenizer_2`` (pad ``!``);
  * ``sd15``: as in stable-diffusion-v1-5/stable-diffusion-v1-5 ``tokenizer``
    (older transformers layout with ``name_or_path``/``special_tokens_map_file``).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
from pathlib import Path


# Number of merges OpenAI's SimpleTokenizer keeps: 49152 - 256 - 2.
NUM_MERGES = 49152 - 256 - 2
VOCAB_SIZE = 49408
BOS = "<|startoftext|>"
EOS = "<|endoftext|>"

# (size, sha256) of the published files.  vocab.json / merges.txt are the same
# in openai/clip-vit-large-patch14, SD 1.5 tokenizer/, SDXL tokenizer/ and tokenizer_2/.
# Sources: SDXL base revision 462165984030d82259a11f4367a4eed129e94a7b and SD 1.5
# revision 451f4fe16113bff5a5d2269ed5ad43b0592e9a14 file manifests (see
# assets/pipelines/README.md).
_VOCAB = (1059962, "e089ad92ba36837a0d31433e555c8f45fe601ab5c221d4f607ded32d9f7a4349")
_MERGES = (524619, "9fd691f7c8039210e0fced15865466c65820d09b63988b0174bfe25de299051a")
_MAP_EOS = (472, "c4864a9376a8401918425bed71fc14fc0e81f9b59ec45c1cf96cccb2df508eac")
PUBLISHED_SHA256: dict[tuple[str, str], dict[str, tuple[int, str]]] = {
    ("sdxl", EOS): {  # SDXL base tokenizer/
        "vocab.json": _VOCAB,
        "merges.txt": _MERGES,
        "special_tokens_map.json": _MAP_EOS,
        "tokenizer_config.json": (737, "19d7b034cb0cc3ce9766c2231373ab8aa8991fc72e2c8f76558bfaae3de0d563"),
    },
    ("sdxl", "!"): {  # SDXL base tokenizer_2/
        "vocab.json": _VOCAB,
        "merges.txt": _MERGES,
        "special_tokens_map.json": (460, "f118ab3a983206e4f32583448de6bd6aae4ee21869135cef1f5848a753cdaab6"),
        "tokenizer_config.json": (725, "c9d23941f76a41cbd50eda9290f57be7828f0a7a677939e9ef181f7e12bd1bdf"),
    },
    ("sd15", EOS): {  # SD 1.5 tokenizer/
        "vocab.json": _VOCAB,
        "merges.txt": _MERGES,
        "special_tokens_map.json": _MAP_EOS,
        "tokenizer_config.json": (806, "00439066fcba73de57644cf41e4e3b9f2dbb09d7f3fc2005898ba52399045882"),
    },
}


def bytes_to_unicode() -> dict[int, str]:
    """OpenAI CLIP / GPT-2 reversible byte -> printable unicode mapping."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(2**8):
        if b not in bs:
            bs.append(b)
            cs.append(2**8 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def build_vocab_and_merges(bpe_gz: Path) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Return (encoder, merges) exactly as ``SimpleTokenizer.__init__`` builds them."""
    lines = gzip.open(bpe_gz).read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : NUM_MERGES + 1]]
    if len(merges) != NUM_MERGES or any(len(m) != 2 for m in merges):
        raise ValueError(f"{bpe_gz}: unexpected merges layout")
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab.extend("".join(m) for m in merges)
    vocab.extend([BOS, EOS])
    encoder = {token: index for index, token in enumerate(vocab)}
    if len(encoder) != VOCAB_SIZE:
        raise ValueError(f"vocabulary has {len(encoder)} entries, expected {VOCAB_SIZE}")
    return encoder, merges


def _added_token(content: str) -> dict:
    return {
        "__type": "AddedToken",
        "content": content,
        "lstrip": False,
        "normalized": True,
        "rstrip": False,
        "single_word": False,
    }


def tokenizer_config(pad_token: str, style: str = "sdxl") -> dict:
    """``tokenizer_config.json`` in the published layout (see module docstring)."""
    config = {
        "add_prefix_space": False,
        "bos_token": _added_token(BOS),
        "clean_up_tokenization_spaces": True,
        "do_lower_case": True,
        "eos_token": _added_token(EOS),
        "errors": "replace",
        "model_max_length": 77,
        "pad_token": pad_token,
        "tokenizer_class": "CLIPTokenizer",
        "unk_token": _added_token(EOS),
    }
    if style == "sd15":
        del config["clean_up_tokenization_spaces"]
        config["name_or_path"] = "openai/clip-vit-large-patch14"
        config["special_tokens_map_file"] = "./special_tokens_map.json"
    elif style != "sdxl":
        raise ValueError(f"unknown style {style!r}")
    return dict(sorted(config.items()))


def special_tokens_map(pad_token: str) -> dict:
    def token(content: str) -> dict:
        return {
            "content": content,
            "lstrip": False,
            "normalized": True,
            "rstrip": False,
            "single_word": False,
        }

    return {
        "bos_token": token(BOS),
        "eos_token": token(EOS),
        "pad_token": pad_token,
        "unk_token": token(EOS),
    }


def render(bpe_gz: Path, pad_token: str = EOS, style: str = "sdxl") -> dict[str, bytes]:
    """The four tokenizer files, name -> bytes."""
    encoder, merges = build_vocab_and_merges(bpe_gz)
    vocab_text = json.dumps(encoder, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    merges_text = "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges)
    return {
        "vocab.json": vocab_text.encode("utf-8"),
        "merges.txt": merges_text.encode("utf-8"),
        "tokenizer_config.json": (json.dumps(tokenizer_config(pad_token, style), indent=2) + "\n").encode(),
        "special_tokens_map.json": (json.dumps(special_tokens_map(pad_token), indent=2) + "\n").encode(),
    }


def write_tokenizer(bpe_gz: Path, out_dir: Path, pad_token: str = EOS, style: str = "sdxl") -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in render(bpe_gz, pad_token, style).items():
        (out_dir / name).write_bytes(data)


def check(out_dir: Path, pad_token: str = EOS, style: str = "sdxl") -> list[str]:
    """Compare the folder with the published (size, sha256); return the mismatches."""
    expected = PUBLISHED_SHA256.get((style, pad_token))
    if expected is None:
        expected = {"vocab.json": _VOCAB, "merges.txt": _MERGES}
    problems = []
    for name, (size, digest) in expected.items():
        data = (out_dir / name).read_bytes()
        actual = hashlib.sha256(data).hexdigest()
        if len(data) != size or actual != digest:
            problems.append(f"{out_dir / name}: {len(data)} bytes sha256 {actual}, published {size} {digest}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bpe_gz", type=Path, help="path to bpe_simple_vocab_16e6.txt.gz")
    parser.add_argument("out_dir", type=Path, help="tokenizer folder to write")
    parser.add_argument(
        "--pad-token",
        default=EOS,
        help="'<|endoftext|>' (SD 1.5 and SDXL tokenizer, default) or '!' (SDXL tokenizer_2)",
    )
    parser.add_argument(
        "--style",
        choices=("sdxl", "sd15"),
        default="sdxl",
        help="tokenizer_config.json layout: as in SDXL base (default) or as in SD 1.5",
    )
    parser.add_argument("--check", action="store_true", help="verify the files against the published sha256")
    args = parser.parse_args(argv)
    write_tokenizer(args.bpe_gz, args.out_dir, args.pad_token, args.style)
    print(f"wrote {args.out_dir}")
    if args.check:
        problems = check(args.out_dir, args.pad_token, args.style)
        for problem in problems:
            print("MISMATCH", problem, file=sys.stderr)
        if problems:
            return 1
        print("matches the published sha256")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
