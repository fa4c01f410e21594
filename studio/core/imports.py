"""The library names the studio imports inside functions, resolved once at start-up in the main thread.

transformers and diffusers load their classes lazily on first attribute access, and that first access is not
thread-safe: a fresh server (or Ray replica) whose first 8 picture jobs arrived at once raised "cannot import name
'CLIPTokenizer' from 'transformers'" in some of them (bench_class's ray arm: 15 of 164 requests; reproduced
in-process with 8 threads). `warm()` pays the imports (about 4 s on this CPU) before any learner can click.
"""
from __future__ import annotations

import importlib


LAZY = {
    "transformers": ("CLIPTokenizer", "CLIPImageProcessor", "CLIPModel", "CLIPProcessor", "AutoConfig",
                     "AutoTokenizer", "AutoModelForCausalLM", "LogitsProcessorList",
                     "RepetitionPenaltyLogitsProcessor", "TemperatureLogitsWarper", "TopKLogitsWarper",
                     "TopPLogitsWarper"),
    "diffusers": ("DDPMScheduler", "AutoPipelineForImage2Image", "AutoPipelineForInpainting", "AutoencoderKLWan",
                  "WanPipeline", "TextToVideoSDPipeline", "AnimateDiffPipeline"),
}


def warm() -> None:
    for module, names in LAZY.items():
        library = importlib.import_module(module)
        for name in names:
            getattr(library, name)
