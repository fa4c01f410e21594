"""mini-shapes: its attribute world, its training script (smoke run) and, once shipped, the model itself."""
from __future__ import annotations

import importlib
import json
import random
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image, ImageDraw

from studio import api
from studio.core.registry import CARDS
from studio.image import shapes
from tests.commands import run_module


ROOT = Path(__file__).resolve().parent.parent
SHIPPED = CARDS["mini-shapes"].local_folder()


def _script(name: str):
    """A module of scripts/mini_shapes (scripts.mini_shapes.NAME)."""
    return importlib.import_module(f"scripts.mini_shapes.{name}")


def test_the_analyser_reads_clean_renderings_back():
    rng = random.Random(7)
    specs = [shapes.random_spec(rng, allow_held_out=True) for _ in range(150)]
    found = [shapes.analyse(shapes.render(s)) for s in specs]
    for attribute in ("shape", "colour", "background", "size", "position"):
        accuracy = np.mean([getattr(f, attribute) == getattr(s, attribute) for f, s in zip(found, specs)])
        assert accuracy >= 0.98, (attribute, accuracy)
    fill = {shape: np.mean([f.fill for f, s in zip(found, specs) if s.shape == shape]) for shape in shapes.SHAPES}
    assert fill["star"] < fill["triangle"] < fill["circle"] < fill["square"]


def _drawn(points, ellipse=False, background="blue", colour="yellow") -> Image.Image:
    """A shape drawn 4x large from points in 64 px units, scaled down like the renderer's."""
    image = Image.new("RGB", (256, 256), shapes.COLOURS[background][1])
    big = [(4 * x, 4 * y) for x, y in points]
    draw = ImageDraw.Draw(image)
    fill = shapes.COLOURS[colour][1]
    draw.ellipse(big[0] + big[1], fill=fill) if ellipse else draw.polygon(big, fill=fill)
    return image.resize((64, 64), Image.Resampling.LANCZOS)


def _bowed_square(cx, cy, half, bow, stretch=1.0):
    """A square whose sides bow inwards by `bow` px at their middles, `stretch` times taller than wide."""
    w, h = half, half * stretch
    return [(cx - w, cy - h), (cx, cy - h + bow), (cx + w, cy - h), (cx + w - bow, cy), (cx + w, cy + h),
            (cx, cy + h - bow), (cx - w, cy + h), (cx - w + bow, cy)]


@pytest.mark.parametrize("stretch", [0.9, 1.1])
def test_the_analyser_reads_a_misshapen_square_as_a_square_and_an_egg_as_a_circle(stretch):
    # What the model draws: a small square, its sides bowed in by 2 px, 10% taller or wider than it should be.
    # A template placed by the bounding box alone (the first analyser) read these as circles.
    assert shapes.analyse(_drawn(_bowed_square(32, 32, 8, bow=2.0, stretch=stretch))).shape == "square"
    assert shapes.analyse(_drawn(_bowed_square(32, 32, 14, bow=2.0, stretch=stretch))).shape == "square"
    egg = [(32 - 10, 32 - 10 * stretch), (32 + 10, 32 + 10 * stretch)]
    assert shapes.analyse(_drawn(egg, ellipse=True)).shape == "circle"


def test_the_analyser_keeps_the_four_shapes_apart_when_they_are_a_little_off():
    # The fit's freedom (scale, 10% stretch, a pixel's shift) must not let one shape pass for another.
    rng = random.Random(11)
    for _ in range(40):
        spec = shapes.random_spec(rng, allow_held_out=True)
        clean = shapes.render(spec)
        taller = clean.resize((64, 70)).crop((0, 3, 64, 67))
        narrower = Image.new("RGB", (64, 64), shapes.COLOURS[spec.background][1])
        narrower.paste(clean.resize((58, 64)), (3, 0))
        for picture in (taller, narrower):  # 10% off their own proportions
            assert shapes.analyse(picture).shape == spec.shape, spec


def test_prompts_in_both_languages_name_the_same_attributes():
    zh = shapes.parse_prompt("蓝色背景上的一个大红色圆形，在左边")
    en = shapes.parse_prompt("a big red circle on the left, blue background")
    assert zh == en == {"background": "blue", "colour": "red", "shape": "circle", "size": "big", "position": "left"}
    assert shapes.parse_prompt("绿色的三角形") == {"colour": "green", "shape": "triangle"}
    assert shapes.parse_prompt("a cosmic dragon, trending on artstation") == {}


def test_captions_never_name_a_held_out_pair_in_training():
    rng = random.Random(3)
    for _ in range(2000):
        spec = shapes.random_spec(rng)
        assert (spec.shape, spec.colour) not in shapes.HELD_OUT and spec.colour != spec.background


def test_noisy_captions_name_a_wrong_value_at_the_chance_asked_and_never_a_held_out_pair():
    """--caption-noise: each attribute wrong with the chance given, always a different value, never the shape in the
    background's colour and never a held-out pair (training must not name one); 0 leaves every spec as it is."""
    mislabel = _script("train").mislabel
    rng = random.Random(5)
    specs = [shapes.random_spec(rng) for _ in range(4000)]
    assert all(mislabel(spec, rng, 0.0) is spec for spec in specs)
    noisy = [mislabel(spec, rng, 0.3) for spec in specs]
    for attribute in ("shape", "colour", "background", "size", "position"):
        wrong = np.mean([getattr(a, attribute) != getattr(b, attribute) for a, b in zip(specs, noisy)])
        assert 0.27 < wrong < 0.33, (attribute, wrong)
    assert all(n.colour != n.background and (n.shape, n.colour) not in shapes.HELD_OUT for n in noisy)
    assert all((n.dx, n.dy) == (s.dx, s.dy) for n, s in zip(noisy, specs))  # the caption, not the picture, changes
    assert all(mislabel(spec, rng, 1.0, ("shape",)).size == spec.size for spec in specs)  # only the ones asked


def test_the_colour_table_counts_a_drifted_colour_against_the_colour_named():
    """evaluate.by_word: an orange prompt drawn yellow (what CFG 12 does) lowers orange, not yellow."""
    evaluate = _script("evaluate")
    orange = shapes.Spec("circle", "orange", "blue", "big", "center")
    yellow = shapes.Spec("circle", "yellow", "blue", "big", "center")
    items = [("蓝色背景上的一个大橙色圆形", orange, False), ("a big orange circle", orange, False),
             ("a big yellow circle", yellow, False), ("一个大圆形", orange, False)]  # the last names no colour
    images = [shapes.render(orange), shapes.render(yellow), shapes.render(yellow), shapes.render(yellow)]
    table = evaluate.by_word(items, images, "colour")
    assert table["orange"] == 0.5 and table["yellow"] == 1.0 and np.isnan(table["red"])


def test_the_colour_codes_keep_every_colour_at_least_sqrt2_radii_from_every_other():
    """No colour between two others, as v7's VAE put orange (1.9 from red and from yellow; black 6.1 from white):
    guidance pushing a colour away from the rest then moves it along its own axis."""
    import torch
    distances = torch.cdist(*[_script("train").colour_codes(2.0)] * 2)
    assert distances[~torch.eye(len(shapes.COLOURS), dtype=torch.bool)].min() >= 2 * 2 ** 0.5 - 1e-6
    names = list(shapes.COLOURS)
    assert distances[names.index("orange"), names.index("yellow")] == 4.0


def test_the_code_loss_holds_the_inside_cells_and_leaves_the_outline_free():
    import torch
    train = _script("train")
    spec = shapes.Spec("square", "orange", "blue", "big", "center")
    image = torch.from_numpy(np.asarray(shapes.render(spec)).transpose(2, 0, 1).copy())[None]
    colours, codes = train.colour_indices([spec]), train.colour_codes(2.0)
    inside, outside = train.interior_masks(image)
    assert inside.sum() >= 9 and outside.sum() >= 100 and (inside * outside).sum() == 0
    outline = 1 - inside - outside
    on_codes = inside * codes[colours[:, 0], :, None, None] + outside * codes[colours[:, 1], :, None, None]
    latent = on_codes + 5 * outline * torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    assert train.code_loss(latent, image, colours, codes) == 0  # the outline cells are free
    assert train.code_loss(latent + 0.5 * inside, image, colours, codes) > 0.01  # the inside ones are held
    assert train.code_loss(latent + 0.5 * outside, image, colours, codes) > 0.01


@pytest.mark.timeout(300)
def test_a_run_killed_while_saving_resumes_from_the_last_whole_checkpoint(tmp_path):
    """A run killed half-way through saving must resume with the weights, optimizer and step of one checkpoint."""
    import torch
    train = _script("train")
    layer = torch.nn.Linear(2, 2)
    optimizer = torch.optim.AdamW(layer.parameters())
    save = lambda step, losses, seconds: train.checkpoint(  # noqa: E731
        SimpleNamespace(work=tmp_path, save_every=1), "unet", 750, tmp_path / "unet", {"unet": layer}, optimizer,
        step, losses, seconds, time.time())
    save(250, [1.0], 10.0)
    with torch.no_grad():
        layer.weight.add_(1.0)
    whole = layer.weight.detach().clone()
    seconds = save(500, [1.0, 0.5], 20.0)
    # killed while writing step 750: its files are in tmp/, the weights half written
    (tmp_path / "unet" / "tmp").mkdir()
    (tmp_path / "unet" / "tmp" / "unet.safetensors").write_bytes(b"torn")
    with torch.no_grad():
        layer.weight.zero_()
    step, losses, resumed = train.resume(tmp_path / "unet", {"unet": layer}, optimizer)
    assert (step, losses, resumed) == (500, [1.0, 0.5], seconds) and torch.equal(layer.weight, whole)


def test_a_resumed_run_records_every_commit_that_trained_it(tmp_path):
    """train.py notes HEAD at each start: a run resumed after a commit, or on edited code, names all of it."""
    train, evaluate = _script("train"), _script("evaluate")
    repo, work = tmp_path / "repo", tmp_path / "work"
    repo.mkdir(), work.mkdir()

    def git(*cmd):
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *cmd], cwd=repo, check=True,
                              capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    (repo / "a.py").write_text("1")
    git("add", "a.py")
    git("commit", "-qm", "one")
    first = git("rev-parse", "HEAD")
    assert train.run_commits(work, repo) == first[:12]
    assert train.run_commits(work, repo) == first[:12]  # resumed on the same code: named once
    (repo / "a.py").write_text("2")
    git("commit", "-qam", "two")
    second = git("rev-parse", "HEAD")[:12]
    assert train.run_commits(work, repo) == f"{first[:12]}, {second}"
    (repo / "a.py").write_text("3")
    assert train.run_commits(work, repo) == f"{first[:12]}, {second}, {second}+modified"
    assert evaluate.short_commits(first) == first[:12]  # records written before run_commits hold a full hash


@pytest.mark.slow
def test_training_smoke_run_makes_a_pipeline_the_studio_loads(studio_env, models_dir, tmp_path):
    evaluate, guidance_steps, sampler_steps = (_script(n) for n in ("evaluate", "guidance_steps", "sampler_steps"))
    out = models_dir / "smoke-shapes"
    run_module("scripts.mini_shapes.train", "--smoke", "--work", str(tmp_path / "work"), "--out", str(out),
               "--threads", "1", "--uncond", "0.25", "--colour-codes", "2", "--text-time-embedding",
               "--caption-noise", "0.2", "--noisy-attributes", "shape,colour")
    assert (out / "loss.png").is_file() and (out / "training.json").is_file()
    assert not list(out.rglob("*.bin"))
    # a server of another user reads them
    assert {f.stat().st_mode & 0o777 for f in out.rglob("*") if f.is_file()} == {0o644}
    scheduler = json.loads((out / "scheduler" / "scheduler_config.json").read_text())
    assert scheduler["prediction_type"] == "v_prediction"  # every sampler of the studio reads it from here
    # zero terminal SNR: at the first sampling step nothing of a picture is left, so layout comes from the prompt
    assert scheduler["timestep_spacing"] == "trailing"
    alphas_cumprod = np.cumprod(1 - np.array(scheduler["trained_betas"]))
    assert alphas_cumprod[-1] < 1e-7 and alphas_cumprod[0] > 0.999
    results = evaluate.main([str(out), "--prompts", "8", "--threads", "1", "--card"])
    assert set(results["steps"]) == set(results["steps_karras"]) == {2, 4, 8, 20}
    assert set(results["cfg"]) == {1.0, 3.0, 7.0, 12.0}
    assert set(results["vae"]) == set(evaluate.ATTRIBUTES)  # the VAE's ceiling is measured too
    assert set(results["karras"]["seen"]) == set(evaluate.ATTRIBUTES)  # and the course's sampler
    assert set(results["cfg_karras"]) == {1.0, 3.0, 7.0, 12.0}  # across CFG too
    assert set(results["shape_by_word"][7.0]) == set(shapes.SHAPES)  # and which shape fails, by CFG
    assert set(results["read_as"]) == set(shapes.SHAPES)  # and what it was read as instead
    assert set(results["colour_by_word"][12.0]) == set(shapes.COLOURS)  # and which colour drifts, by CFG
    card = (out / "README.md").read_text(encoding="utf-8")
    run = json.loads((out / "training.json").read_text())
    assert run["commit"][:12] in card and "UNet2DConditionModel" in card
    assert run["command"].startswith(f"python -m scripts.mini_shapes.train --smoke --work {tmp_path / 'work'} ")
    assert f"1. `{run['command']}`" in card  # the command that trains it again, from the repository root
    assert "| CFG | seen | held-out | seen, DPM++ 2M Karras |" in card
    # The shape-naming head trains with the encoder (it is in the checkpoint) and is left out of the pipeline.
    assert run["shape_aux"] > 0 and "shape-naming loss" in card
    assert run["uncond"] == 0.25 and "25% of captions are empty" in card  # the CFG dropout the run used
    assert run["colour_codes"] == 2 and "colour codes of radius 2" in card
    assert run["caption_noise"] == 0.2 and "shape, colour wrong with probability 0.2" in card  # the stage's line
    assert "the shape or colour a caption names is a wrong one with probability 0.2 (background, position and " \
           "size always right)" in card  # and the Data section
    unet_config = json.loads((out / "unet" / "config.json").read_text())
    assert unet_config["addition_embed_type"] == "text" and "time embedding" in card  # the pooled prompt path
    assert set(run["seconds"]) == {"vae", "decoder", "unet"} and all(s > 0 for s in run["seconds"].values())
    assert "stage 1: " in card and " min (vae " in card and run["machine"] in card  # how long, and on what
    assert (sorted((tmp_path / "work" / "unet").glob("step-*"))[-1] / "shape_head.safetensors").is_file()
    from safetensors.torch import load_file
    assert all("head" not in key for key in load_file(out / "text_encoder" / "model.safetensors"))
    windows = guidance_steps.main([str(out), "--prompts", "4", "--threads", "1"])  # where high CFG hurts
    assert len(windows) == 7 and all(set(r["seen"]) == set(evaluate.ATTRIBUTES) for r in windows.values())
    by_sampler = sampler_steps.main([str(out), "LMS:2,Euler a:3", "--prompts", "4", "--threads", "1"])
    assert set(by_sampler) == {("LMS", 2), ("Euler a", 3)} and all(0 <= r["no_shape"] <= 4 for r in by_sampler.values())
    with pytest.raises(SystemExit):  # a misspelt sampler is named, not a KeyError half-way through
        sampler_steps.main([str(out), "LMS:20,Eular:20"])
    image = api.generate_image("一个红色圆形", model="smoke-shapes", seed=1, steps=3, save=False).images[0]
    assert image.size == (64, 64)
    # A fine-tuning stage keeps the VAE whose latents the starting UNet learnt, and the card lists both stages.
    tuned = models_dir / "smoke-shapes-2"
    run_module("scripts.mini_shapes.train", "--smoke", "--work", str(tmp_path / "work2"), "--out", str(tuned),
               "--threads", "1", "--init-from", str(out))
    for vae in ("vae/diffusion_pytorch_model.safetensors", "vae/config.json"):
        assert (tuned / vae).read_bytes() == (out / vae).read_bytes()
    evaluate.main([str(tuned), "--prompts", "4", "--threads", "1", "--card"])
    card = (tuned / "README.md").read_text(encoding="utf-8")
    assert "starting from stage 1's weights" in card and "(loss-stage1.png)" in card
    assert json.loads((tuned / "training.json").read_text())["text_time_embedding"]  # the architecture it started from
    assert set(json.loads((tuned / "training.json").read_text())["seconds"]) == {"unet"}  # the VAE was kept
    assert "stage 2: " in card and " min (unet " in card
    assert (tuned / "loss-stage1.png").read_bytes() == (out / "loss.png").read_bytes()


def test_training_time_is_reported_only_when_every_spell_was_timed():
    evaluate = _script("evaluate")
    timed = {"seconds": {"vae": 600, "unet": 3000}, "machine": "Some CPU, x86_64", "threads": 2}
    untimed = {"seconds": {"unet": None}}  # resumed from a checkpoint written before stages timed themselves
    assert evaluate.training_time([timed, untimed]) == (
        "Training time (wall clock between checkpoints, summed over the runs that resumed a stage): "
        "stage 1: 60 min (vae 10, unet 50) on Some CPU, x86_64, 2 threads; stage 2: not recorded.")
    assert "stage 1: not recorded" in evaluate.training_time([{"command": "an old record"}])


def test_shipped_model_is_the_reproducible_default(studio_env):
    first = api.generate_image("蓝色背景上的一个大红色圆形，在左边", seed=42, save=False)
    again = api.generate_image("蓝色背景上的一个大红色圆形，在左边", seed=42, save=False)
    assert np.array_equal(np.asarray(first.images[0]), np.asarray(again.images[0]))
    found = shapes.analyse(first.images[0])
    assert (found.background, found.colour) == ("blue", "red")
    for prompt in ("", "a cosmic dragon ✨ (masterpiece:1.4)", "猫" * 300):  # any prompt is accepted
        assert api.generate_image(prompt, seed=1, save=False).images


def test_the_prompt_not_the_seed_decides_where_the_shape_goes(studio_env):
    """With the same seed, "on the left" and "on the right" put the shape on that side. (Before the zero-terminal-SNR
    schedule, the place followed the seed: the UNet had learned to read layout from the noise.)"""
    placed = []
    for seed in range(4):
        for side in ("left", "right"):
            image = api.generate_image(f"a big red square on the {side}, blue background", seed=seed,
                                       save=False).images[0]
            placed.append(shapes.analyse(image).position == side)
    assert sum(placed) >= 7, placed


def test_the_prompt_not_the_seed_decides_the_kind_of_shape(studio_env):
    """Same seed, the four shape words: triangles and stars come out as asked, and circles and squares are told
    apart. (The encoder of the run before the shape-naming loss kept "circle" and "square" 5% apart and the UNet drew
    the same picture for both.)"""
    for shape in shapes.SHAPES:
        read = [shapes.analyse(api.generate_image(f"a big red {shape} in the center, blue background", seed=seed,
                                                  save=False).images[0]).shape for seed in range(4)]
        assert read.count(shape) >= 3, (shape, read)


def test_guidance_makes_the_picture_follow_the_prompt(studio_env):
    """The lesson of the CFG slider: the same 12 fully named prompts and seeds at CFG 1 (no guidance) and at the
    default 7. Trained on partly wrong captions, the model needs guidance to follow a prompt, as SD 1.5 does
    (trained on exact ones, it followed them at CFG 1 already and the slider showed nothing)."""
    rng = random.Random(21)
    specs = [shapes.random_spec(rng) for _ in range(12)]
    prompts = [shapes.caption(spec, rng, drop=0.0) for spec in specs]
    right = {}
    for cfg in (1.0, 7.0):
        right[cfg] = 0
        for seed, (spec, prompt) in enumerate(zip(specs, prompts)):
            found = shapes.analyse(api.generate_image(prompt, cfg_scale=cfg, seed=seed, save=False).images[0])
            right[cfg] += sum(getattr(found, a) == getattr(spec, a) for a in ("shape", "colour", "background", "size",
                                                                             "position"))
    # 60 attributes; the shipped model: 51 right at CFG 1, 57 at 7 (v8, trained on exact captions: 57 and 59)
    assert right[7.0] >= 54 and right[7.0] - right[1.0] >= 4, right


def test_high_cfg_with_the_courses_sampler_keeps_the_prompts_colours(studio_env):
    """DPM++ 2M Karras at CFG 12. Spaced over the zero-SNR schedule's whole range (sigma 4096 down), 13 of its 20
    steps fell where the latent is still noise and guidance overshot in the 4 big steps left: 12 of these 16
    colours, 13 backgrounds and 10 shapes came out right (the cap in studio.image.samplers)."""
    colours = list(shapes.COLOURS)
    right = np.zeros(3, int)
    for k in range(16):
        colour, shape, background = colours[k % 8], list(shapes.SHAPES)[k % 4], colours[(k + 3) % 8]
        image = api.generate_image(f"a {colour} {shape}, {background} background", model="mini-shapes",
                                   sampler="DPM++ 2M Karras", steps=20, cfg_scale=12, seed=k, save=False).images[0]
        found = shapes.analyse(image)
        right += (found.colour == colour, found.background == background, found.shape == shape)
    assert (right >= 14).all(), right


def test_the_analyser_reads_decoded_pictures_back(studio_env):
    """A VAE round trip looks like the rendering but has soft edges, a faint rim and specks; the analyser must still
    read it (the first one, counting every pixel unlike the background, read squares as stars). The shipped VAE."""
    import torch
    from diffusers import AutoencoderKL

    from studio.core.registry import MINI_DIR
    vae = AutoencoderKL.from_pretrained(MINI_DIR / "mini-shapes", subfolder="vae", torch_dtype=torch.float32)
    rng = random.Random(11)
    specs = [shapes.random_spec(rng, allow_held_out=True) for _ in range(60)]
    x = torch.stack([torch.from_numpy(np.asarray(shapes.render(s))).permute(2, 0, 1) for s in specs]) / 127.5 - 1
    with torch.no_grad():
        decoded = vae.decode(vae.encode(x).latent_dist.mean).sample
    pictures = ((decoded.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    from PIL import Image
    found = [shapes.analyse(Image.fromarray(p)) for p in pictures]
    for attribute in ("colour", "background", "size", "position"):
        assert np.mean([getattr(f, attribute) == getattr(s, attribute) for f, s in zip(found, specs)]) >= 0.95
