"""musiczoo.compose: a prompt (and control flags) -> N ranked variations in a folder.

    result = compose("calm folk melody in D minor, 80 bpm, 16 bars, AABA, 3 variations",
                     "out/song", seed=1)
    result.variations[0].path        # the best; compose.json holds every score and seed

Each variation has its own seed (written down: `regenerate` makes it again exactly); form
letters repeat their section (A A' where the family can vary it); `vary` makes more like
a chosen variation, keeping its character.
"""
import dataclasses
import json
import pathlib

import numpy as np

from musiczoo import outputs
from musiczoo.bundles import load_bundle
from musiczoo.compose import form as form_lib
from musiczoo.compose import prompt as prompt_lib
from musiczoo.compose import rank
from musiczoo.compose.profile import Profile
from musiczoo.controls import ControlError, Controls
from musiczoo.render import companions, render_options

MAX_VARIATIONS = 16
RECORD = "compose.json"


@dataclasses.dataclass
class Variation:
    rank: int
    seed: int
    path: pathlib.Path
    sequence: object
    scores: dict
    wav: pathlib.Path = None          # variation_N.wav, when asked for
    piano_roll: pathlib.Path = None   # variation_N.png / .svg, when asked for


@dataclasses.dataclass
class ComposeResult:
    output_dir: pathlib.Path
    variations: list            # ranked, best first
    plan: prompt_lib.PromptPlan
    controls: Controls
    record_path: pathlib.Path

    def table(self):
        return rank.table([{"rank": v.rank, "file": v.path.name, "seed": v.seed,
                            "scores": v.scores} for v in self.variations])


def settle(prompt="", *, bundle=None, num_variations=None, form=None, temperature=None,
           controls=None):
    """(PromptPlan, Controls): the prompt compiled, then every explicit setting (flags)
    winning over what the prompt said."""
    plan = prompt_lib.compile_prompt(prompt) if str(prompt or "").strip() else \
        prompt_lib.PromptPlan()
    if bundle:
        plan.bundle = bundle
    if num_variations is not None:
        plan.num_variations = num_variations
    if form is not None:
        plan.form = form
    if temperature is not None:
        plan.temperature = temperature
    settings = dict(plan.controls)
    settings.update({k: v for k, v in (controls or {}).items() if v is not None})
    if not 1 <= int(plan.num_variations) <= MAX_VARIATIONS:
        raise ControlError(f"variations must be 1..{MAX_VARIATIONS}, got {plan.num_variations}")
    plan.controls = settings
    return plan, Controls.parse(**settings)


def variation_seeds(seed, count):
    rng = np.random.default_rng(seed)
    return [int(s) for s in rng.integers(0, 2 ** 31 - 1, size=count)]


def compose(prompt="", output_dir=None, *, seed=None, bundle=None, num_variations=None,
            form=None, temperature=None, controls=None, overwrite=False, model=None,
            wav=False, piano_roll=None, sample_rate=44100):
    """Writes ranked variations (variation_1.mid is the best) and compose.json into
    `output_dir`; returns a ComposeResult. `controls`: Controls.parse keywords that win
    over the prompt. A folder holding an earlier compose.json is kept unless `overwrite`.
    With `wav` / `piano_roll` ("png" or "svg") every variation also gets
    variation_N.wav / variation_N.png, listed in compose.json."""
    if output_dir is None:
        raise ControlError("give an output folder for the variations")
    folder = outputs.check_output_dir(output_dir)
    if (folder / RECORD).exists() and not overwrite:
        raise outputs.OutputError(folder / RECORD, "already holds a composition; choose "
                                                   "another folder or pass --overwrite")
    render = render_options(wav, piano_roll, sample_rate)
    plan, settled, seed, pieces, model = make_variations(
        prompt, seed=seed, bundle=bundle, num_variations=num_variations, form=form,
        temperature=temperature, controls=controls, model=model)
    return _write(folder, model, plan, settled, seed, pieces, overwrite,
                  {"prompt": prompt}, render)


def make_variations(prompt="", *, seed=None, bundle=None, num_variations=None, form=None,
                    temperature=None, controls=None, model=None, load=load_bundle):
    """(plan, controls, seed, [(variation seed, NoteSequence)], model): compose without
    writing anything (the web server stores results its own way). `load(name)` gives the
    model when none is passed."""
    plan, settled = settle(prompt, bundle=bundle, num_variations=num_variations, form=form,
                           temperature=temperature, controls=controls)
    model = model or load(plan.bundle)
    seed = int(seed) if seed is not None else int(np.random.default_rng().integers(2 ** 31))
    pieces = [(s, form_lib.make_piece(model, settled, plan.form, plan.temperature, s))
              for s in variation_seeds(seed, plan.num_variations)]
    return plan, _filled_in(model, settled), seed, pieces, model


def _filled_in(model, settled):
    """The controls with what the model filled in (a multi-instrument model's style, band
    and meter), so ranking and compose.json judge what was really asked of it."""
    filled = getattr(model, "last_controls", None)
    if filled is None:
        return settled
    return dataclasses.replace(settled, time_signature=filled.time_signature,
                               style=filled.style, instruments=filled.instruments)


def ranked(model, controls, pieces, profile=None):
    """[(seed, piece, scores)] best first (scores: compose.rank against the profile, the
    model's own unless given)."""
    profile = profile if profile is not None else _profile(model)
    scored = [(s, piece, rank.score(piece, controls, profile)) for s, piece in pieces]
    return sorted(scored, key=lambda item: -item[2]["score"])


def vary(path, output_dir, *, num_variations=4, seed=None, amount=0.3, overwrite=False,
         wav=False, piano_roll=None, sample_rate=44100):
    """More like one variation: its composition's settings, its opening half kept
    (RNNs, Music Transformer) or its latent code moved a little (MusicVAE, by `amount`)."""
    render = render_options(wav, piano_roll, sample_rate)
    path = pathlib.Path(path)
    record_path = path.parent / RECORD
    if not record_path.exists():
        raise ControlError(f"{path}: no {RECORD} beside it; --vary takes a variation written "
                           "by musiczoo_compose")
    record = json.loads(record_path.read_text())
    entry = next((v for v in record["variations"] if v["file"] == path.name), None)
    if entry is None:
        raise ControlError(f"{path}: not one of the variations in {record_path}")
    folder = outputs.check_output_dir(output_dir)
    if (folder / RECORD).exists() and not overwrite:
        raise outputs.OutputError(folder / RECORD, "already holds a composition; choose "
                                                   "another folder or pass --overwrite")
    plan = prompt_lib.PromptPlan(**{k: record["plan"][k] for k in (
        "bundle", "controls", "form", "temperature")}, num_variations=num_variations)
    settled = Controls.parse(**plan.controls)
    model = load_bundle(plan.bundle)
    from musiczoo.pipelines.readers.files import read_file
    source = read_file(path)[0]
    seed = int(seed) if seed is not None else int(np.random.default_rng().integers(2 ** 31))
    pieces = [(s, form_lib.more_like(model, source, settled, plan.temperature, s, amount))
              for s in variation_seeds(seed, num_variations)]
    settled = _filled_in(model, settled)
    return _write(folder, model, plan, settled, seed, pieces, overwrite,
                  {"vary_of": str(path), "amount": amount}, render)


def _profile(model):
    stem = getattr(model, "bundle_path", None)
    return Profile.load(pathlib.Path(stem).with_suffix("")) if stem else None


def _write(folder, model, plan, controls, seed, pieces, overwrite, extra,
           render=(False, None, 44100)):
    from musiczoo.pipelines.writers import end_at_bar_line, write_midi
    profile = _profile(model)
    scored = ranked(model, controls, pieces, profile)
    folder = outputs.output_dir(folder)
    variations = []
    for position, (s, piece, scores) in enumerate(scored, start=1):
        target = folder / f"variation_{position}.mid"
        write_midi(end_at_bar_line(piece), target, overwrite=overwrite)
        variations.append(Variation(position, s, target, piece, scores))
    wav, roll, sample_rate = render
    made = companions([v.path for v in variations], wav=wav, piano_roll_format=roll,
                      sample_rate=sample_rate, overwrite=overwrite) if wav or roll else []
    for v, entry in zip(variations, made):
        v.wav = pathlib.Path(entry["wav"]) if entry["wav"] else None
        v.piano_roll = pathlib.Path(entry["piano_roll"]) if entry["piano_roll"] else None
    record = {**extra, "bundle": plan.bundle, "seed": seed,
              "understood": plan.understood, "ignored": plan.ignored,
              "corrected": plan.corrected, "summary": plan.summary(),
              "controls": controls.as_dict(),
              "plan": {"bundle": plan.bundle, "controls": plan.controls, "form": plan.form,
                       "temperature": plan.temperature},
              "profile": profile.source if profile is not None else None,
              "ranking": rank.__doc__.split("\n")[2].strip(),
              "synth": next((e["synth"] for e in made if e["synth"]), None),
              "variations": [{"rank": v.rank, "file": v.path.name, "seed": v.seed,
                              **_companion_names(v),
                              "scores": v.scores} for v in variations]}
    record_path = folder / RECORD
    outputs.write_text(record_path, json.dumps(record, indent=1, default=str) + "\n",
                       overwrite=True)
    return ComposeResult(folder, variations, plan, controls, record_path)


def _companion_names(variation):
    return {kind: path.name for kind, path in (("wav", variation.wav),
                                               ("piano_roll", variation.piano_roll)) if path}


def regenerate(record_path, file_name, model=None):
    """The NoteSequence of one variation again, from its recorded seed and settings."""
    record = json.loads(pathlib.Path(record_path).read_text())
    entry = next(v for v in record["variations"] if v["file"] == file_name)
    plan = record["plan"]
    model = model or load_bundle(plan["bundle"])
    return form_lib.make_piece(model, Controls.parse(**plan["controls"]), plan["form"],
                               plan["temperature"], entry["seed"])
