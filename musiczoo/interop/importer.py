"""Import a Magenta model: which container, which config, the weights mapped exactly.

    model = import_model("attention_rnn.mag")                  # the id names the config
    model = import_model("run/train/model.ckpt-20000", config="basic_rnn")
    model = import_model("magentajs/basic_rnn/")               # config.json says
    model.save_bundle("attention_rnn.mzb")                     # musiczoo_import does this
"""
import pathlib

from musiczoo import registry
from musiczoo.interop import containers
from musiczoo.interop import events_rnn as events_map
from musiczoo.interop import music_vae as vae_map
from musiczoo.interop.containers import ImportFailure

#: Magenta generator ids musiczoo knows of but cannot import yet, and what they are.
NOT_YET = {"performance_with_dynamics_and_note_encoding": "Performance RNN",
           "polyphony": "Polyphony RNN", "rnn-nade": "Pianoroll RNN-NADE",
           "basic_improv": "Improv RNN", "attention_improv": "Improv RNN",
           "chord_pitches_improv": "Improv RNN"}
SIZE_FIELDS = ("layer_sizes", "enc_rnn_size", "dec_rnn_size", "conductor_rnn_size", "z_size")
MAPPINGS = {"melody_rnn": events_map, "drums_rnn": events_map, "performance_rnn": events_map,
            "music_vae": vae_map}
#: Magenta.js dataConverter types -> the configs that may be meant.
JS_CONVERTERS = {"MelodyConverter": ("basic_rnn", "mono_rnn", "lookback_rnn", "attention_rnn"),
                 "DrumsConverter": ("drum_kit", "one_drum"),
                 "DrumsOneHotConverter": ("one_drum", "drum_kit")}


def is_magenta_model(path):
    """True when `path` is a container this module reads (not a .mzb)."""
    return containers.kind_of(path) is not None


def import_model(path, config=None, hparams=None):
    """A musiczoo model holding the Magenta model's weights. `config` (a musiczoo config
    name) is needed where the file does not say (a bare checkpoint)."""
    path = pathlib.Path(path).expanduser()
    if not path.exists() and not pathlib.Path(str(path) + ".index").exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    variables, info = containers.read_variables(path)
    name = config or _config_from(info, variables, path)
    stated = info.get("generator_id")
    if config and stated and events_map.GENERATOR_IDS.get(stated, (None, stated))[1] != config:
        raise ImportFailure(f"{path}: the bundle is a {stated!r} generator; --config={config} "
                            "says otherwise (leave --config out: the bundle names its own)")
    family, cfg = registry.find_config(name)
    mapping = MAPPINGS.get(family.name)
    if mapping is None:
        raise ImportFailure(f"{path}: importing {family.name} checkpoints is not supported "
                            "yet; Melody RNN, Drums RNN, Performance RNN and MusicVAE are")
    if (family.name == "music_vae") != vae_map.is_music_vae(variables):
        raise ImportFailure(f"{path}: the checkpoint holds a "
                            f"{'MusicVAE' if vae_map.is_music_vae(variables) else 'events RNN'}"
                            f"; --config={cfg.name} is a {family.name} config")
    given = registry.apply_hparams(cfg, hparams) if hparams else cfg
    plan = mapping.layout(variables, path)
    fitted = mapping.fit_config(given, plan, path)
    for field in SIZE_FIELDS:  # sizes --hparams state must be the checkpoint's
        stated = getattr(given, field, None)
        if stated is not None and stated != getattr(cfg, field) and \
                stated != getattr(fitted, field):
            raise ImportFailure(f"{path}: --hparams give {field}={_shown(stated)}; the "
                                f"checkpoint holds {_shown(getattr(fitted, field))}")
    cfg = fitted
    model = family.model_class().from_config(cfg)
    mapping.assign(model, variables, plan, path)
    model.metadata.update(
        description=info.get("description") or cfg.description,
        imported_from={"path": str(path), "container": info["container"],
                       "generator_id": info.get("generator_id"), "config": cfg.name},
        training_data="imported from Magenta (see imported_from)")
    return model


def _shown(value):
    return list(value) if isinstance(value, tuple) else value


def run_dir_model(run_dir):
    """What a training run folder generates from, as Magenta's --run_dir: a Magenta run
    (run_dir/train with TF checkpoints: its newest) or a musiczoo run (its <config>.mzb)."""
    folder = pathlib.Path(run_dir).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such run folder")
    for candidate in (folder / "train", folder):
        if candidate.is_dir() and containers.kind_of(candidate) == "checkpoint":
            return candidate
    bundles = sorted(folder.glob("*.mzb"), key=lambda p: p.stat().st_mtime)
    if bundles:
        return bundles[-1]
    raise ImportFailure(f"{folder}: no checkpoint to generate from (neither train/checkpoint "
                        "as Magenta wrote it, nor a musiczoo bundle; a musiczoo run writes "
                        "<config>.mzb when training ends)")


def _config_from(info, variables, path):
    generator_id = info.get("generator_id")
    if generator_id:
        if generator_id in events_map.GENERATOR_IDS:
            return events_map.GENERATOR_IDS[generator_id][1]
        what = NOT_YET.get(generator_id)
        known = ", ".join(sorted(events_map.GENERATOR_IDS))
        raise ImportFailure(
            f"{path}: generator id {generator_id!r} "
            f"{f'({what}) is not supported yet' if what else 'is unknown'}; supported: {known}")
    js = info.get("config") if isinstance(info.get("config"), dict) else {}
    if js.get("musiczoo", {}).get("config"):
        return js["musiczoo"]["config"]
    if isinstance(info.get("config"), str):
        return info["config"]
    if js.get("type") == "MusicRNN":
        converter = (js.get("dataConverter") or {}).get("type")
        candidates = JS_CONVERTERS.get(converter, ())
        try:
            plan = events_map.layout(variables, path)
        except ImportFailure:
            plan = None
        fitting = [name for name in candidates if plan and _fits(name, plan)]
        if len(fitting) == 1:
            return fitting[0]
        raise ImportFailure(f"{path}: a Magenta.js MusicRNN ({converter}) that could be "
                            f"{' or '.join(fitting or candidates) or 'any config'}: pass "
                            "--config")
    if js.get("type") == "MusicVAE":
        converter = js.get("dataConverter") or {}
        steps = (converter.get("args") or {}).get("numSteps")
        guess = {("MelodyConverter", 32): "cat-mel_2bar_small",
                 ("MelodyConverter", 256): "hierdec-mel_16bar",
                 ("DrumsConverter", 32): "cat-drums_2bar_small"}.get(
            (converter.get("type"), steps))
        if guess:
            return guess
        raise ImportFailure(f"{path}: a Magenta.js MusicVAE ({converter.get('type')}, "
                            f"{steps} steps) musiczoo has no config for: pass --config")
    if js.get("type"):
        raise ImportFailure(f"{path}: Magenta.js model type {js['type']!r} is not supported "
                            "yet (MusicRNN and MusicVAE are)")
    raise ImportFailure(f"{path}: the file does not say which model it is: pass --config "
                        "(e.g. --config=attention_rnn)")


def _fits(name, plan):
    _, cfg = registry.find_config(name)
    codec = cfg.codec()
    return (codec.input_size == plan["input_width"] and codec.num_classes == plan["num_classes"]
            and bool(cfg.attn_length) == bool(plan["attention"]))


def export_magenta_js(model, folder, overwrite=False):
    """Writes `model` (an events RNN) as a Magenta.js checkpoint folder; returns the paths.
    config.json is Magenta.js's MusicRNN spec plus {"musiczoo": {"config": name}}."""
    from musiczoo import outputs
    if model.family not in MAPPINGS:
        raise ImportFailure(f"export to Magenta.js is supported for Melody RNN, Drums RNN "
                            f"and MusicVAE bundles, not {model.family}")
    folder = outputs.check_output_dir(folder)
    taken = [name for name in ("weights_manifest.json", "config.json")
             if (folder / name).exists()]
    if taken and not overwrite:
        raise outputs.OutputError(folder / taken[0], "already exists; choose another folder "
                                                     "or pass --overwrite")
    cfg = model.config
    if model.family == "music_vae":
        steps = cfg.max_seq_len
        converter = ({"type": "MelodyConverter", "args": {
            "numSteps": steps, "minPitch": 21, "maxPitch": 108}}
            if cfg.representation == "melody" else
            {"type": "DrumsConverter", "args": {"numSteps": steps}})
        spec = {"type": "MusicVAE", "dataConverter": converter,
                "musiczoo": {"config": cfg.name}}
    else:
        if model.family == "melody_rnn":
            converter = {"type": "MelodyConverter",
                         "args": {"minPitch": cfg.min_note, "maxPitch": cfg.max_note - 1}}
        else:
            converter = {"type": "DrumsConverter", "args": {}}
        spec = {"type": "MusicRNN", "dataConverter": converter,
                "musiczoo": {"config": cfg.name, "layer_sizes": list(cfg.layer_sizes)}}
        if cfg.attn_length:
            spec["attentionLength"] = cfg.attn_length
    if overwrite:
        for stale in folder.glob("group1-shard*of*"):
            stale.unlink()
    return containers.write_magenta_js(folder, MAPPINGS[model.family].to_magenta(model), spec,
                                      overwrite=overwrite)
