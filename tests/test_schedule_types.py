"""Issue 41: A1111 1.9+'s Schedule type beside the sampler, the samplers of A1111 1.10 the studio lacked, and the
old joined names ("DPM++ 2M Karras") still read everywhere."""
from __future__ import annotations

import inspect
import json
import os
import shutil

import diffusers
import numpy as np
import pytest
from diffusers import DDPMScheduler

from studio import api
from studio.core.registry import MINI_DIR
from studio.image import grid, samplers
from studio.image.infotext import format_infotext, parse_infotext


MINI = dict(prompt="a red circle", model="mini-shapes", steps=8, cfg_scale=7, seed=3, width=64, height=64)
# SD 1.5's schedule, its spacing written out as a downloaded model's scheduler_config.json writes it
SD15 = DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, steps_offset=1,
                     timestep_spacing="leading").config


def pixels(result) -> np.ndarray:
    return np.asarray(result.images[0].convert("RGB"), dtype=int)


# -- what each sampler offers and what each type sets ----------------------------------------------------------
@pytest.mark.parametrize("name", list(samplers.SAMPLERS))
def test_each_sampler_offers_the_types_its_diffusers_class_takes(name):
    cls = samplers.class_name(name)
    takes = inspect.signature(getattr(diffusers, cls).__init__).parameters
    expected = ["Automatic"] + [kind for kind, arg in (("Karras", "use_karras_sigmas"),
                                                       ("Exponential", "use_exponential_sigmas"),
                                                       ("Beta", "use_beta_sigmas")) if arg in takes]
    if "timestep_spacing" in takes and cls != "LCMScheduler":  # LCMScheduler never reads its spacing
        expected += ["SGM Uniform", "Simple"]
    assert samplers.schedule_types(name) == api.image_schedule_types(name) == expected


def test_euler_a_ddim_and_pndm_take_only_spacings_and_old_names_count_as_their_base():
    for name in ("Euler a", "DDIM", "PNDM"):
        assert samplers.schedule_types(name) == ["Automatic", "SGM Uniform", "Simple"]
    assert api.image_schedule_types("DPM++ 2M Karras") == list(samplers.SCHEDULES)
    with pytest.raises(api.StudioError):
        api.image_schedule_types("Magic")


def _sigmas(scheduler, steps: int = 10) -> np.ndarray:
    scheduler.set_timesteps(steps)
    return scheduler.sigmas.numpy()


def test_each_schedule_type_sets_the_scheduler_config_it_should():
    auto = samplers.make_scheduler("DPM++ 2M", SD15)
    assert auto.config.timestep_spacing == "leading" and not auto.config.use_karras_sigmas  # the model's own
    expected = {"Karras": dict(use_karras_sigmas=True),
                "Exponential": dict(use_exponential_sigmas=True, timestep_spacing="linspace"),
                "Beta": dict(use_beta_sigmas=True, timestep_spacing="linspace"),
                "SGM Uniform": dict(timestep_spacing="trailing"), "Simple": dict(timestep_spacing="trailing")}
    seen = {"Automatic": _sigmas(auto)}
    for kind, config in expected.items():
        scheduler = samplers.make_scheduler("DPM++ 2M", SD15, kind)
        assert {k: scheduler.config[k] for k in config} == config, kind
        seen[kind] = _sigmas(scheduler)  # Beta: scipy's beta distribution
        assert not np.allclose(seen[kind], seen["Automatic"]), kind
        # built from this one's config, Automatic is the plain sampler again: no sigma option leaks (the spacing
        # does: the engine always builds from the model's own config, studio.image.engine._scheduler)
        again = samplers.make_scheduler("DPM++ 2M", scheduler.config).config
        assert not (again.use_karras_sigmas or again.use_exponential_sigmas or again.use_beta_sigmas), kind
    assert np.allclose(seen["SGM Uniform"], seen["Simple"])  # diffusers maps both to trailing
    ddim = samplers.make_scheduler("DDIM", SD15, "Simple")
    ddim.set_timesteps(10)
    assert ddim.config.timestep_spacing == "trailing" and int(ddim.timesteps[0]) == 999


def test_the_zero_snr_cap_holds_for_every_spacing_from_sigma_max():
    zero_snr = DDPMScheduler.from_pretrained(MINI_DIR / "mini-shapes", subfolder="scheduler").config
    for kind in ("Karras", "Exponential", "Beta"):
        assert _sigmas(samplers.make_scheduler("Euler", zero_snr, kind))[0] == pytest.approx(samplers.KARRAS_SIGMA_MAX)
    assert samplers.make_scheduler("Euler", zero_snr, "Simple").config.get("sigma_max") is None


def test_the_new_samplers_are_diffusers_multistep_variants():
    heun = samplers.make_scheduler("DPM++ 2M SDE Heun", SD15).config
    three = samplers.make_scheduler("DPM++ 3M SDE", SD15, "Exponential").config
    assert (heun.algorithm_type, heun.solver_type, heun.solver_order) == ("sde-dpmsolver++", "heun", 2)
    assert (three.algorithm_type, three.solver_order, three.use_exponential_sigmas) == ("sde-dpmsolver++", 3, True)
    assert not samplers.is_exact("DPM++ 3M SDE") and not samplers.is_exact("LCM")


# -- infotexts ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, sampler, schedule_type", [
    ("Sampler: Euler, Schedule type: Karras", "Euler", "Karras"),
    ("Sampler: Euler, Schedule type: Simple", "Euler", "Simple"),
    ("Sampler: Euler a", "Euler a", "Automatic"),
    ("Sampler: DPM++ 2M Karras", "DPM++ 2M", "Karras"),  # before A1111 1.9
    ("Sampler: LMS Karras", "LMS", "Karras"),
    ("Sampler: DPM2 a Karras", "DPM2 a", "Karras"),
    ("Sampler: DPM++ 3M SDE Exponential", "DPM++ 3M SDE", "Exponential"),  # A1111 1.6-1.8
    ("Sampler: DPM++ 2M, Schedule type: Align Your Steps", "DPM++ 2M", "Align Your Steps"),  # kept, not mapped
])
def test_infotexts_load_into_exactly_their_settings(text, sampler, schedule_type):
    fields = parse_infotext(f"a cat\nSteps: 20, {text}, CFG scale: 7, Seed: 1")
    assert (fields["sampler"], fields["schedule_type"]) == (sampler, schedule_type)


def test_an_unknown_schedule_type_is_not_applied():
    fields = parse_infotext("a cat\nSteps: 20, Sampler: Euler, Schedule type: Polyexponential, Seed: 1")
    assert fields["schedule_type"] == "Polyexponential"
    assert fields["schedule_type"] not in api.image_schedule_types(fields["sampler"])
    with pytest.raises(api.StudioError) as err:
        api.export_code(**MINI, sampler=fields["sampler"], schedule_type=fields["schedule_type"])
    assert err.value.key == "bad_schedule_type" and "Karras" in err.value.message("en")
    assert "调度类型" in err.value.message("zh")
    assert "Schedule type" not in format_infotext("a", "", dict(sampler="Euler", schedule_type=None))


# -- calls -----------------------------------------------------------------------------------------------------
def test_a_sampler_refuses_a_type_it_does_not_take_with_the_valid_ones(studio_env):
    with pytest.raises(api.StudioError) as err:
        api.generate_image(**MINI, sampler="Euler a", schedule_type="Karras", save=False)
    assert err.value.key == "bad_schedule_type"
    assert "Automatic, SGM Uniform, Simple" in err.value.message("en") and err.value.message("zh") != \
        err.value.message("en")


def test_lcm_is_offered_and_runs_only_on_an_lcm_model(studio_env, models_dir):
    assert "LCM" not in api.image_samplers("mini-shapes") and "LCM" in api.image_samplers()
    with pytest.raises(api.StudioError) as err:
        api.generate_image(**MINI, sampler="LCM", save=False)
    assert err.value.key == "lcm_only" and "mini-shapes" in err.value.message("en")
    assert "LCM" in err.value.message("zh") and err.value.message("zh") != err.value.message("en")
    # an LCM-distilled model: its scheduler config names LCMScheduler (files linked, the config written anew)
    lcm = models_dir / "tiny-lcm"
    shutil.copytree(models_dir / "tiny-sd15", lcm, copy_function=os.link)
    config = lcm / "scheduler" / "scheduler_config.json"
    data = {**json.loads(config.read_text()), "_class_name": "LCMScheduler"}
    config.unlink()
    config.write_text(json.dumps(data))
    assert "LCM" in api.image_samplers("tiny-lcm")
    result = api.generate_image("a cat", model="tiny-lcm", sampler="LCM", steps=2, seed=1, width=64, height=64,
                                save=False)
    assert "Sampler: LCM" in result.infotexts[0]


def test_the_schedule_type_changes_the_picture_and_reads_back_from_the_png(studio_env):
    """One model load: the default, the control changed, the old name, and a saved picture made again."""
    assert {k: api.model_defaults("sd15")[k] for k in ("sampler", "schedule_type")} == \
        {"sampler": "DPM++ 2M", "schedule_type": "Karras"}
    assert api.model_defaults("mini-shapes")["schedule_type"] == "Automatic"
    plain = api.generate_image(**MINI, save=False)  # the model's sampler, with its own schedule type
    assert "Sampler: DPM++ 2M, CFG" in plain.infotexts[0]
    new = api.generate_image(**MINI, sampler="DPM++ 2M", schedule_type="Karras")
    assert "Sampler: DPM++ 2M, Schedule type: Karras," in new.infotexts[0]
    assert not np.array_equal(pixels(plain), pixels(new))  # the control does something
    old = api.generate_image(**MINI, sampler="DPM++ 2M Karras", save=False)
    assert np.array_equal(pixels(old), pixels(new)) and old.infotexts == new.infotexts
    fields = api.read_infotext(new.paths[0])
    assert (fields["sampler"], fields["schedule_type"]) == ("DPM++ 2M", "Karras")
    again = api.generate_image(fields["prompt"], fields["negative_prompt"], "mini-shapes", fields["sampler"],
                               fields["steps"], fields["cfg_scale"], fields["seed"], fields["width"],
                               fields["height"], schedule_type=fields["schedule_type"], save=False)
    assert np.array_equal(pixels(new), pixels(again))


def test_the_grids_sampler_axis_keeps_the_pages_schedule_type_where_it_applies():
    assert grid.fit_schedule("DPM++ 2M", "Karras") == "Karras"
    assert grid.fit_schedule("Euler a", "Karras") == "Automatic"  # Euler a takes no Karras
    assert grid.fit_schedule("DPM++ 2M Karras", "Exponential") == "Automatic"  # the old name brings its own
    assert grid.values("schedule_type", "Automatic, Karras") == ["Automatic", "Karras"]


def test_the_page_offers_the_samplers_types_and_sends_a_pngs_own():
    from tabs import image as tab
    euler_a = tab.schedule_choices("Euler a", "Karras")  # Karras does not apply to Euler a: Automatic
    assert (euler_a["choices"], euler_a["value"]) == (["Automatic", "SGM Uniform", "Simple"], "Automatic")
    assert tab.schedule_choices("DPM++ 2M", "Karras")["value"] == "Karras"
    fields = parse_infotext("a cat\nSteps: 20, Sampler: Euler, Schedule type: Simple, Seed: 1")
    assert tab.send_schedule(fields, "Euler", "Karras")["value"] == "Simple"
    unknown = parse_infotext("a cat\nSteps: 20, Sampler: Euler, Schedule type: Align Your Steps, Seed: 1")
    assert tab.send_schedule(unknown, "Euler", "Karras")["value"] == "Karras"  # not applied: the page's stays


def test_each_schedule_type_saved_loads_back_and_makes_the_same_pixels(studio_env):
    kw = dict(model="mini-shapes", sampler="DPM++ 2M", steps=6, cfg_scale=7, seed=9, width=64, height=64)
    for kind in samplers.schedule_types("DPM++ 2M"):
        made = api.generate_image("a red [circle:square:2]", **kw, schedule_type=kind)
        fields = api.read_infotext(made.paths[0])
        assert (fields["sampler"], fields["schedule_type"]) == ("DPM++ 2M", kind)
        again = api.generate_image(fields["prompt"], fields["negative_prompt"], "mini-shapes", fields["sampler"],
                                   fields["steps"], fields["cfg_scale"], fields["seed"], fields["width"],
                                   fields["height"], schedule_type=fields["schedule_type"], save=False)
        assert np.array_equal(pixels(made), pixels(again)), kind
