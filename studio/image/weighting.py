"""Prompt weighting as the course teaches it, and prompts longer than CLIP's 77 tokens.

    (word) x1.1   ((word)) x1.21   [word] /1.1   (word:1.5) x1.5   \\( \\) literal brackets

    a BREAK b                          BREAK (capitals, a word of its own) starts a new 75-token chunk

`parse` turns that syntax into (text, weight) spans (written here: no maintained library reads this syntax);
`encode` hands the spans to compel, which does the embedding arithmetic and splits long prompts into 75-token
chunks, each between its own start and end token. Compel has no BREAK: the text between BREAKs is encoded part by
part and the parts' chunks joined, as A1111 pads a chunk at BREAK. A prompt with no syntax that fits one chunk
bypasses compel, so the pipeline encodes it exactly as a bare diffusers call would.
"""
from __future__ import annotations

import math
import re

import torch


UP, DOWN = 1.1, 1 / 1.1
CHUNK = 75  # tokens per CLIP chunk, between the start and end tokens

BREAK = re.compile(r"\s*\bBREAK\b\s*")  # A1111's re_break
_TOKEN = re.compile(r"\\[()\[\]\\]|\(|\[|:\s*([+-]?(?:\d+\.?\d*|\.\d+))\s*\)|\)|\]|[^\\()\[\]:]+|[\\:]")


def parse(prompt: str) -> list[tuple[str, float]]:
    """Spans of text with their weights; unmatched closing brackets are literal, unclosed ones weight the rest."""
    spans: list[list] = []  # [text, weight]
    opened: list[tuple[int, str]] = []  # (index into spans where the bracket opened, "(" or "[")

    def close(kind: str, factor: float) -> bool:
        for depth in range(len(opened) - 1, -1, -1):
            if opened[depth][1] == kind:
                start = opened.pop(depth)[0]
                for span in spans[start:]:
                    span[1] *= factor
                return True
        return False

    for m in _TOKEN.finditer(prompt):
        token = m.group(0)
        if token in ("(", "["):
            opened.append((len(spans), token))
        elif m.group(1) is not None:  # ":1.5)" closes a round bracket with an explicit weight
            if not close("(", float(m.group(1))):
                spans.append([token, 1.0])
        elif token == ")" and close("(", UP) or token == "]" and close("[", DOWN):
            pass
        else:
            spans.append([token[1:] if token.startswith("\\") and len(token) == 2 else token, 1.0])
    for start, kind in opened:  # unclosed: weight everything after them
        for span in spans[start:]:
            span[1] *= UP if kind == "(" else DOWN
    return _merge(spans)


def _merge(spans: list[list]) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    for text, weight in spans:
        weight = round(weight, 6)
        if out and math.isclose(out[-1][1], weight):
            out[-1] = (out[-1][0] + text, out[-1][1])
        elif text:
            out.append((text, weight))
    return out


def is_weighted(prompt: str) -> bool:
    spans = parse(prompt)
    return any(w != 1.0 for _, w in spans) or "".join(t for t, _ in spans) != prompt


def parts(prompt: str) -> list[list[tuple[str, float]]]:
    """The weighted spans cut where BREAK starts a new chunk (also inside brackets, as in A1111). A BREAK at the
    very end adds no chunk; one at the start, or two in a row, give a chunk of padding."""
    out: list[list] = [[]]
    for text, weight in parse(prompt):
        for k, piece in enumerate(BREAK.split(text)):
            if k:
                out.append([])
            if piece:
                out[-1].append((piece, weight))
    if len(out) > 1 and not out[-1]:
        out.pop()
    return out


def has_break(prompt: str) -> bool:
    return len(parts(prompt)) > 1


def token_count(tokenizer, prompt: str) -> dict:
    """Tokens of the prompt (without start / end tokens or BREAKs) and the 75-token chunks they fill (each part
    between BREAKs starts a chunk of its own)."""
    counts = [len(tokenizer("".join(t for t, _ in part), add_special_tokens=False).input_ids) for part in parts(prompt)]
    chunks = sum(max(1, math.ceil(n / CHUNK)) for n in counts)
    return {"tokens": sum(counts), "chunks": chunks, "limit": CHUNK * chunks}


def needs_compel(pipe, prompt: str, negative_prompt: str) -> bool:
    return any(needs_compel_for(pipe.tokenizer, p) for p in (prompt, negative_prompt))


def needs_compel_for(tokenizer, prompt: str) -> bool:
    """Weighted, longer than one chunk or cut by BREAK: the pipeline's own encoder would ignore the syntax or cut
    the prompt."""
    return is_weighted(prompt) or has_break(prompt) or token_count(tokenizer, prompt)["tokens"] > CHUNK


def _encoders(pipe) -> list:
    """One compel encoder per text encoder (SDXL: both, the second also giving the pooled embedding)."""
    from compel import Compel, ReturnedEmbeddingsType
    if getattr(pipe, "text_encoder_2", None) is None:
        return [Compel(tokenizer=pipe.tokenizer, text_encoder=pipe.text_encoder, truncate_long_prompts=False,
                       device=pipe.device)]
    kind = ReturnedEmbeddingsType.PENULTIMATE_HIDDEN_STATES_NON_NORMALIZED  # what SDXL's own encode_prompt uses
    return [Compel(tokenizer=pipe.tokenizer, text_encoder=pipe.text_encoder, returned_embeddings_type=kind,
                   truncate_long_prompts=False, device=pipe.device),
            Compel(tokenizer=pipe.tokenizer_2, text_encoder=pipe.text_encoder_2, returned_embeddings_type=kind,
                   truncate_long_prompts=False, requires_pooled=True, device=pipe.device)]


def _embed(compel, text: str) -> torch.Tensor:
    """The prompt's chunks, part by part between BREAKs."""
    from compel.prompt_parser import FlattenedPrompt
    conds = []
    for spans in parts(text):
        (cond, _tokens), _options = compel.build_conditioning_tensor_for_prompt_object(
            FlattenedPrompt([(t, float(w)) for t, w in spans or [("", 1.0)]]))
        conds.append(cond)
    return torch.cat(conds, dim=1)


def _first_part(text: str) -> str:
    """SDXL's pooled embedding comes from the first chunk (A1111), so from the text before the first BREAK."""
    return "".join(t for t, _ in parts(text)[0])


def _pad(cond: torch.Tensor, empty: torch.Tensor, length: int) -> torch.Tensor:
    """Extra chunks of the empty prompt's embedding, so both sides of CFG have the same number of chunks."""
    while cond.shape[1] < length:
        cond = torch.cat([cond, empty.reshape(1, *empty.shape[-2:])], dim=1)
    return cond


@torch.no_grad()
def encode(pipe, prompt: str, negative_prompt: str, n: int) -> dict:
    """Pipeline keyword arguments (prompt_embeds, negative_prompt_embeds and, for SDXL, the pooled ones) for a
    batch of n images, both sides padded to the same number of chunks."""
    encoders = _encoders(pipe)
    pairs = [(_embed(c, prompt), _embed(c, negative_prompt)) for c in encoders]
    length = max(t.shape[1] for pair in pairs for t in pair)
    padded = [[_pad(t, c.conditioning_provider.empty_z, length) for t in pair] for c, pair in zip(encoders, pairs)]
    cond = torch.cat([p[0] for p in padded], dim=-1)
    neg = torch.cat([p[1] for p in padded], dim=-1)
    kwargs = {}
    if len(encoders) == 2:  # SDXL
        pooled_of = encoders[1].conditioning_provider.get_pooled_embeddings
        pooled, neg_pooled = pooled_of([_first_part(prompt)]), pooled_of([_first_part(negative_prompt)])
        if not negative_prompt and pipe.config.force_zeros_for_empty_prompt:  # as SDXL does for an empty negative
            neg, neg_pooled = torch.zeros_like(neg), torch.zeros_like(neg_pooled)
        kwargs = {"pooled_prompt_embeds": pooled.repeat(n, 1), "negative_pooled_prompt_embeds": neg_pooled.repeat(n, 1)}
    return {"prompt_embeds": cond.repeat(n, 1, 1), "negative_prompt_embeds": neg.repeat(n, 1, 1), **kwargs}
