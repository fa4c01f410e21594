"""mini-motion: its world of moving shapes, its training recipes (smoke runs, as `python -m scripts.mini_motion.train`
runs them) and the folders they make."""
from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from studio.core import loaders
from studio.core.specs import resolve
from studio.video import motion
from tests.commands import run_module


ROOT = Path(__file__).resolve().parent.parent


def test_the_analyser_reads_clean_clips_back():
    rng = random.Random(11)
    clips = [motion.random_clip(rng, allow_held_out=True) for _ in range(120)]
    found = [motion.analyse(motion.render(c)) for c in clips]
    for attribute in ("motion", "colour", "background", "shape"):
        accuracy = np.mean([getattr(f, attribute) == getattr(c, attribute) for f, c in zip(found, clips)])
        assert accuracy >= 0.98, (attribute, accuracy)


def test_clips_follow_wans_frame_rule_and_are_deterministic():
    clip = motion.random_clip(random.Random(1), motion="falling")
    frames = motion.render(clip)
    assert frames.shape == (17, 64, 64, 3) and frames.dtype == np.uint8 and (len(frames) - 1) % 4 == 0
    assert np.array_equal(frames, motion.render(clip))
    assert motion.analyse(list(frames / 255.0)).motion == "falling"  # float frames, as diffusers returns them


def test_prompts_in_both_languages_name_the_same_attributes():
    zh = motion.parse_prompt("蓝色背景上的红色圆形从左向右移动")
    en = motion.parse_prompt("a red circle moving from left to right on a blue background")
    assert zh == en == {"background": "blue", "colour": "red", "shape": "circle", "motion": "left_to_right"}
    for name, (zh_phrases, en_phrases) in motion.MOTIONS.items():
        for phrase in zh_phrases + en_phrases:
            assert motion.parse_prompt(f"绿色的三角形 {phrase}")["motion"] == name, phrase
    assert motion.parse_prompt("a cosmic dragon, trending on artstation") == {}
    assert motion.parse_prompt("") == {}


def test_captions_name_what_the_clip_shows_and_never_a_held_out_pair():
    rng = random.Random(3)
    for _ in range(1000):
        clip = motion.random_clip(rng)
        assert (clip.shape, clip.colour) not in motion.HELD_OUT and clip.colour != clip.background
        named = motion.parse_prompt(motion.caption(clip, rng))
        assert all(getattr(clip, k) == v for k, v in named.items())


def test_the_tokenizer_knows_every_caption_word_and_never_fails():
    from scripts.mini_motion.attempts import wan
    tok = wan.build_tokenizer()
    rng = random.Random(5)
    for _ in range(300):
        ids = tok(motion.caption(motion.random_clip(rng), rng)).input_ids
        assert tok.unk_token_id not in ids and ids[-1] == tok.eos_token_id
    ids = tok("一只猫 ✨ (masterpiece:1.4) moving left").input_ids
    assert tok.unk_token_id in ids and tok.convert_tokens_to_ids("moving") in ids


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_training_smoke_run_makes_a_pipeline_the_studio_loads(studio_env, models_dir, tmp_path):
    import torch
    from diffusers import WanPipeline

    from scripts.mini_motion import evaluate, probe
    out = models_dir / "smoke-motion"
    command = ["--smoke", "--work", str(tmp_path / "work"), "--out", str(out), "--threads", "1", "--image-batch", "2",
               "--text-layers", "1"]
    run_module("scripts.mini_motion.attempts.wan", *command)
    assert (out / "loss.png").is_file() and (out / "training.json").is_file() and (out / "README.md").is_file()
    assert not list(out.rglob("*.bin"))
    # a server of another user reads them
    assert {f.stat().st_mode & 0o777 for f in out.rglob("*") if f.is_file()} == {0o644}
    weights = (out / "transformer" / "diffusion_pytorch_model.safetensors").read_bytes()
    # As if killed after the first checkpoint: the same command resumes there and ends with the same weights.
    shutil.rmtree(max((tmp_path / "work" / "transformer").glob("step-*")))
    run_module("scripts.mini_motion.attempts.wan", *command)
    log = (tmp_path / "work" / "train.log").read_text()
    assert log.count("transformer step 3/3") == 2 and log.count("transformer step 2/3") == 1
    assert (out / "transformer" / "diffusion_pytorch_model.safetensors").read_bytes() == weights

    pipe = loaders.load(resolve("smoke-motion"), "cpu")
    assert isinstance(pipe, WanPipeline) and pipe.transformer.dtype == pipe.vae.dtype == torch.float32
    frames = pipe("蓝色背景上的红色圆形从左向右移动", num_frames=17, height=64, width=64,
                  num_inference_steps=2, output_type="np", generator=torch.Generator().manual_seed(0)).frames
    assert frames.shape == (1, 17, 64, 64, 3)
    # The evaluation pads prompts as the model was trained (32 tokens), not to Wan's 512 (v5's first evaluation).
    scored = evaluate.generate(evaluate.load(out), ["a red circle moving right"], [3], num_inference_steps=2)[0]

    def direct(length):
        return pipe("a red circle moving right", num_frames=17, height=64, width=64, num_inference_steps=2,
                    guidance_scale=5.0, output_type="np", generator=torch.Generator().manual_seed(3),
                    max_sequence_length=length).frames[0]
    assert np.abs(scored - direct(32)).max() < 1e-4 < np.abs(scored - direct(512)).max()
    results = evaluate.main([str(out), "--prompts", "4", "--threads", "1", "--card"])
    assert set(results["all"]) == {"motion", "colour", "background", "shape", "motion + colour"}
    assert set(results["vae"]) == {"motion", "colour", "background", "shape"}
    assert all(0 <= v <= 1 for v in results["vae"].values())
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "## Evaluation" in card and "| motion + colour |" in card and "--prompts 4" in card
    assert "The VAE's ceiling (4 clean clips" in card
    assert "Training:" in card  # the table is added to the training's card, not written over it

    # A checkpoint of the run evaluates as the model its export holds (EMA weights; the export rounds to fp16).
    run = evaluate.load_run(tmp_path / "work")
    exported = dict(pipe.transformer.named_parameters())
    assert all(torch.allclose(p, exported[n], rtol=2e-3, atol=1e-4) for n, p in run.transformer.named_parameters())
    assert run.vae.config.latents_mean == pipe.vae.config.latents_mean
    assert evaluate.main([str(tmp_path / "work"), "--prompts", "2", "--threads", "1"])["prompts"] == 2
    # The probe measures the loss of the same noisy clips under each caption: a model ignoring its text would
    # score every variant alike, so the variants must reach the model as different prompts.
    losses = probe.main([str(tmp_path / "work"), "--clips", "3", "--threads", "1"])
    assert all(len(set(row.values())) == 4 for row in losses.values())


@pytest.mark.slow
def test_the_unet3d_fallback_trains_resumes_and_makes_a_pipeline_the_studio_loads(studio_env, models_dir, tmp_path):
    import torch
    from diffusers import TextToVideoSDPipeline
    from safetensors.torch import load_file

    from scripts.mini_motion import evaluate
    out = models_dir / "smoke-motion-3d"
    command = ["--smoke", "--work", str(tmp_path / "work"), "--out", str(out), "--threads", "1"]
    run_module("scripts.mini_motion.attempts.unet3d", *command)
    # Inflation: the exported UNet's spatial layers started as mini-shapes' and were trained from there.
    unet = load_file(out / "unet" / "diffusion_pytorch_model.safetensors")
    shapes_unet = load_file(ROOT / "assets" / "models" / "mini-shapes" / "unet" / "diffusion_pytorch_model.safetensors")
    key = "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight"
    assert unet[key].shape == shapes_unet[key].shape
    assert 0 < (unet[key].float() - shapes_unet[key].float()).abs().max() < 0.1
    weights = (out / "unet" / "diffusion_pytorch_model.safetensors").read_bytes()
    shutil.rmtree(max((tmp_path / "work" / "unet").glob("step-*")))  # killed after the first checkpoint
    run_module("scripts.mini_motion.attempts.unet3d", *command)
    assert (out / "unet" / "diffusion_pytorch_model.safetensors").read_bytes() == weights
    assert "frames of 64x64" in (out / "README.md").read_text(encoding="utf-8")

    pipe = loaders.load(resolve("smoke-motion-3d"), "cpu")
    assert isinstance(pipe, TextToVideoSDPipeline) and pipe.unet.dtype == torch.float32
    frames = pipe("a red circle moving right", num_frames=4, height=64, width=64, num_inference_steps=2,
                  output_type="np", generator=torch.Generator().manual_seed(0)).frames
    assert frames.shape == (1, 4, 64, 64, 3)
    results = evaluate.main([str(out), "--prompts", "2", "--threads", "1"])
    assert results["defaults"]["num_frames"] == 4 and results["defaults"]["guidance_scale"] == 7.0
    asked = evaluate.main([str(out), "--prompts", "2", "--threads", "1", "--guidance", "3", "--frames", "6"])
    assert (asked["defaults"]["guidance_scale"], asked["defaults"]["num_frames"]) == (3.0, 6)
    run = evaluate.load_run(tmp_path / "work")  # the checkpoint is the model the export holds
    exported = dict(pipe.unet.named_parameters())
    assert all(torch.allclose(p, exported[n], rtol=2e-3, atol=1e-4) for n, p in run.unet.named_parameters())


def _same_tensors(a: Path, b: Path) -> bool:
    from safetensors.torch import load_file
    x, y = load_file(a), load_file(b)
    return x.keys() == y.keys() and all((x[k].float() == y[k].float()).all() for k in x)


@pytest.mark.slow
def test_the_animatediff_model_trains_resumes_and_its_frames_know_their_order(studio_env, models_dir, tmp_path):
    """train.py, the shipped recipe: mini-shapes' UNet with motion modules. Its temporal attention carries frame
    positions, so the same clip played backwards is a different input (UNet3D's attention alone cannot tell)."""
    import torch
    from diffusers import AnimateDiffPipeline

    from scripts.mini_motion import evaluate, probe, train
    out = models_dir / "smoke-motion-ad"
    command = ["--smoke", "--work", str(tmp_path / "work"), "--out", str(out), "--threads", "1"]
    run_module("scripts.mini_motion.train", *command)
    files = [out / "unet" / "diffusion_pytorch_model.safetensors", out / "text_encoder" / "model.safetensors"]
    weights = [f.read_bytes() for f in files]
    shutil.rmtree(max((tmp_path / "work" / "unet").glob("step-*")))  # killed after the first checkpoint
    run_module("scripts.mini_motion.train", *command)
    assert [f.read_bytes() for f in files] == weights  # the motion-naming head resumes with the rest
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "AnimateDiffPipeline" in card and "fine-tuned with a motion-naming loss" in card
    assert f"`python -m scripts.mini_motion.train --smoke --work {tmp_path / 'work'}" in card  # how to run it again
    assert not _same_tensors(files[1], train.SHAPES / "text_encoder" / "model.safetensors")  # trained, not frozen
    from safetensors.torch import load_file
    exported = load_file(files[0])
    shapes_unet = load_file(train.SHAPES / "unet" / "diffusion_pytorch_model.safetensors")
    assert all(torch.equal(exported[k].half(), v.half()) for k, v in shapes_unet.items())  # spatial layers frozen

    pipe = loaders.load(resolve("smoke-motion-ad"), "cpu")
    assert isinstance(pipe, AnimateDiffPipeline) and pipe.unet.dtype == torch.float32
    unet = pipe.unet
    x = torch.randn(1, 4, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    text = torch.randn(4, 3, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        for module in unet.modules():  # give the zero-initialised motion modules an output to compare
            if hasattr(module, "proj_out") and type(module).__name__ == "AnimateDiffTransformer3D":
                torch.nn.init.normal_(module.proj_out.weight, std=0.1)
        forward = unet(x, 10, encoder_hidden_states=text).sample
        backward = unet(x.flip(2), 10, encoder_hidden_states=text).sample.flip(2)
    assert (forward - backward).abs().max() > 1e-3
    results = evaluate.main([str(tmp_path / "work"), "--prompts", "2", "--threads", "1"])  # a checkpoint
    assert results["defaults"]["num_frames"] == 4
    tuned = probe.main([str(tmp_path / "work"), "--text", "--threads", "1"])
    assert tuned != probe.main([str(train.SHAPES), "--text", "--threads", "1"])  # the checkpoint's own encoder
    assert all(v > 0 for v in tuned.values())  # every pair reaches the encoder as two different prompts


def test_the_probes_captions_change_one_thing_each():
    from scripts.mini_motion import probe
    rng = random.Random(5)
    clips = [motion.random_clip(rng) for _ in range(60)]
    captions = probe.variants(clips, seed=0)
    opposite = {"left_to_right": "right_to_left", "falling": "rising", "growing": "shrinking"}
    opposite |= {b: a for a, b in opposite.items()}
    for k, clip in enumerate(clips):
        right, swapped, moved = (motion.parse_prompt(captions[v][k]) for v in
                                 ("right", "colours swapped", "opposite motion"))
        assert right == {"motion": clip.motion, "shape": clip.shape, "colour": clip.colour,
                         "background": clip.background}
        assert swapped == {**right, "colour": clip.background, "background": clip.colour}
        assert moved == {**right, "motion": opposite[clip.motion]}
    assert set(captions["empty"]) == {""}


def test_transformer_loss_weights_the_cells_the_object_passes_through():
    import torch

    from scripts.mini_motion.attempts import wan as train
    clips = [motion.random_clip(random.Random(i)) for i in range(4)]
    masks = train.latent_masks(clips)
    assert masks.shape == (4, 1, 5, 16, 16) and 0 < masks.mean() < 0.5  # the object covers a small part of the grid
    for mask, clip in zip(masks, clips):  # the first latent frame's cells hold the object's first-frame position
        frame = np.asarray(motion.render(clip))[0].astype(int)
        ys, xs = np.nonzero(np.abs(frame - frame[0, 0]).sum(-1) > 25)
        assert mask[0, 0, ys.mean().astype(int) // train.SPATIAL, xs.mean().astype(int) // train.SPATIAL] == 1
    pred, target = torch.zeros(4, 16, 5, 16, 16), torch.zeros(4, 16, 5, 16, 16)
    assert train.flow_loss(pred + 1, target, torch.zeros_like(masks), 10) == pytest.approx(1.0)  # plain MSE
    off_object = (masks == 0).float().expand(-1, 16, -1, -1, -1)
    on_object = masks.expand(-1, 16, -1, -1, -1)
    assert train.flow_loss(on_object, target, masks, 10) > train.flow_loss(on_object, target, masks, 0)
    assert train.flow_loss(off_object, target, masks, 10) < train.flow_loss(off_object, target, masks, 0)


def test_shipped_model_is_the_reproducible_default(studio_env):
    """assets/models/mini-motion: the video tab's default, the same frames for the same seed, any prompt taken."""
    from studio import api
    prompt = "蓝色背景上的红色圆形从左向右移动"
    first = api.generate_video(prompt, seed=42, save=False)
    again = api.generate_video(prompt, seed=42, save=False)
    pixels = lambda r: np.stack([np.asarray(f) for f in r.frames])  # noqa: E731
    assert pixels(first).shape == (8, 64, 64, 3) and np.array_equal(pixels(first), pixels(again))
    for text in ("", "a cosmic dragon ✨ (masterpiece:1.4)", "猫" * 300):  # any prompt is accepted
        assert api.generate_video(text, seed=1, steps=2, save=False).frames


def test_the_prompt_not_the_seed_decides_the_motion(studio_env):
    """With the same seeds, opposite motions in the prompt come out as opposite tracks."""
    from studio import api
    found = []
    for seed in range(3):
        for move, name in (("从左向右移动", "left_to_right"), ("从右向左移动", "right_to_left")):
            clip = api.generate_video(f"蓝色背景上的红色圆形{move}", seed=seed, save=False)
            found.append(motion.analyse(clip.frames).motion == name)
    assert sum(found) >= 5, found  # one miss allowed
