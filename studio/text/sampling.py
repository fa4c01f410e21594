"""How the next token is drawn: the four knobs the page shows (温度, top-k, top-p, 重复惩罚) as one value, carried
end to end by text generation, the next-token view, the temperature experiment and the 查看代码 script."""
from __future__ import annotations

from dataclasses import dataclass

from studio.text.knobs import KNOBS


@dataclass(frozen=True)
class Sampling:
    temperature: float  # 0 = greedy
    top_k: int  # 0 = off
    top_p: float  # 1 = off
    repetition_penalty: float  # 1 = off

    @classmethod
    def checked(cls, temperature=None, top_k=None, top_p=None, repetition_penalty=None, *,
                defaults: dict) -> Sampling:
        """The knobs of a call, checked with the text KNOBS' ranges; None takes the model's default."""
        pick = lambda value, key: defaults[key] if value is None else value  # noqa: E731
        return cls(KNOBS["temperature"].check(pick(temperature, "temperature")),
                   KNOBS["top_k"].check(pick(top_k, "top_k")),
                   KNOBS["top_p"].check(pick(top_p, "top_p")),
                   KNOBS["repetition_penalty"].check(pick(repetition_penalty, "repetition_penalty")))

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def generate_options(self) -> dict:
        """transformers' generate() keywords: temperature 0 is greedy decoding (do_sample must be on for the rest
        to act)."""
        if self.greedy:
            return dict(do_sample=False, repetition_penalty=self.repetition_penalty)
        return dict(do_sample=True, temperature=self.temperature, top_k=self.top_k, top_p=self.top_p,
                    repetition_penalty=self.repetition_penalty)
