"""Magenta models users hold, run by musiczoo: .mag bundles, TF checkpoints (V1, V2, in a
tar) and Magenta.js folders, with logits equal to an independent implementation of
Magenta's graph (tests/magenta_reference.py) over whole sequences; Magenta's command lines;
export to Magenta.js and back; every broken file refused with what is wrong."""
import json
import os
import shutil
import subprocess
import sys
import tarfile

import numpy as np
import pytest

import musiczoo
from musiczoo import outputs, registry
from musiczoo.interop import containers
from musiczoo.interop.containers import ImportFailure
from musiczoo.interop.importer import export_magenta_js, import_model
from musiczoo.pipelines.readers.midi import midi_bytes_to_sequence
from tests import magenta_reference as ref

TOLERANCE = 1e-5  # float32 network against the float64 reference, over 64 steps
MELODY = [60, -2, 62, -2, 64, -2, 65, -2, 67, -2, -2, -2, 72, -1, 71, -2, 69, -2, 67, -2,
          65, 64, -2, 62, 60, -2, -2, -2, 55, -2, 57, 59] * 2
DRUMS = [(36, 42), (42,), (38, 42), (42,), (36,), (42, 46), (38,), ()] * 8
SIZES = {"basic_rnn": [16, 12], "lookback_rnn": [8, 8], "attention_rnn": [16, 16],
         "mono_rnn": [8], "drum_kit": [12, 10, 8], "one_drum": [8, 8],
         "performance": [8, 6], "performance_with_dynamics": [12, 10, 8]}


def inputs_for(name):
    _, cfg = registry.find_config(name)
    codec = cfg.codec()
    if cfg.name.startswith("performance"):
        ids = np.random.default_rng(3).integers(0, codec.num_classes, 64)
        return codec.inputs_from_ids(ids).astype(np.float32), cfg
    events = DRUMS if cfg.name in ("drum_kit", "one_drum") else MELODY
    return codec.inputs_from_ids(codec.events_to_ids(events)).astype(np.float32), cfg


def magenta(name, seed=0, **names):
    _, cfg = registry.find_config(name)
    codec = cfg.codec()
    return ref.magenta_variables(SIZES[name], codec.input_size, codec.num_classes,
                                 attention=bool(cfg.attn_length), seed=seed, **names)


def assert_same_logits(model, variables, name, **names):
    inputs, cfg = inputs_for(name)
    want = ref.magenta_logits(variables, inputs, SIZES[name], cfg.attn_length, **names)
    got = model.model(inputs[None]).numpy()[0]
    assert got.shape == want.shape == (len(inputs), cfg.codec().num_classes)
    assert np.abs(got - want).max() < TOLERANCE, np.abs(got - want).max()
    # One event at a time through the compiled sampling step: the same numbers.
    state = model.model.initial_state(1)
    stepped = []
    for row in inputs:
        logits, state = model.model.step(row[None], state)
        stepped.append(logits.numpy()[0])
    assert np.abs(np.stack(stepped) - want).max() < TOLERANCE


@pytest.mark.parametrize("name", sorted(SIZES))
def test_a_mag_bundle_gives_magentas_logits(name, tmp_path):
    variables = magenta(name, seed=len(name))
    mag = ref.write_mag(tmp_path / f"{name}.mag", name, variables, tmp_path)
    model = musiczoo.load_bundle(mag)         # directly, no conversion step
    assert model.config.name == name and list(model.config.layer_sizes) == SIZES[name]
    assert model.metadata["imported_from"]["generator_id"] == name
    assert_same_logits(model, variables, name)


@pytest.mark.parametrize("name", ["basic_rnn", "attention_rnn"])
def test_every_container_gives_the_same_logits(name, tmp_path):
    variables = magenta(name, seed=7)
    # A V2 training checkpoint with Adam slots and global_step beside the weights.
    prefix = ref.write_checkpoint(variables, str(tmp_path / "train" / "model.ckpt-20000"), 2)
    for given in (prefix, prefix + ".index", tmp_path / "train"):
        assert_same_logits(import_model(given, config=name), variables, name)
    # The same checkpoint in a tar (as Magenta's MusicVAE checkpoints were shipped).
    archive = tmp_path / f"{name}.tar"
    with tarfile.open(archive, "w") as tar:
        for path in (tmp_path / "train").iterdir():
            if path.name.startswith("model.ckpt-20000"):
                tar.add(path, arcname=f"{name}/{path.name}")
    assert_same_logits(import_model(archive, config=name), variables, name)
    # A V1 checkpoint file, and a Magenta.js folder.
    v1 = ref.write_checkpoint(variables, str(tmp_path / "v1" / "model.ckpt"), 1,
                              with_slots=False)
    assert_same_logits(import_model(v1, config=name), variables, name)
    _, cfg = registry.find_config(name)
    spec = {"type": "MusicRNN", "dataConverter": {"type": "MelodyConverter",
                                                  "args": {"minPitch": 48, "maxPitch": 83}}}
    if cfg.attn_length:
        spec["attentionLength"] = cfg.attn_length
    containers.write_magenta_js(tmp_path / "js", variables, spec, shard_bytes=4096)
    assert len(list((tmp_path / "js").glob("group1-shard*"))) > 1
    js_model = musiczoo.load_bundle(tmp_path / "js")  # config.json and the shapes say
    assert js_model.config.name == name
    assert_same_logits(js_model, variables, name)


def test_older_magenta_variable_names(tmp_path):
    names = {"cell_name": "lstm_cell", "kernel": "weights", "bias": "biases"}
    variables = magenta("attention_rnn", seed=3, **names)
    mag = ref.write_mag(tmp_path / "old.mag", "attention_rnn", variables, tmp_path)
    assert_same_logits(import_model(mag), variables, "attention_rnn", **names)


def test_missing_and_broken_pieces_are_named(tmp_path):
    variables = magenta("basic_rnn")
    prefix = ref.write_checkpoint(variables, str(tmp_path / "ck" / "cat-mel.ckpt"), 2)
    os.remove(prefix + ".data-00000-of-00001")
    with pytest.raises(ImportFailure, match=r"cat-mel.ckpt.data-00000-of-00001 not found "
                                            r"next to the index"):
        import_model(prefix, config="basic_rnn")
    # Generator ids: not yet supported, unknown; both list the supported ones.
    for generator, words in (("performance_with_dynamics_and_note_encoding", "Performance RNN"),
                             ("no_such_rnn", "unknown")):
        mag = ref.write_mag(tmp_path / f"{generator}.mag", generator, variables, tmp_path)
        with pytest.raises(ImportFailure, match=f"{words}.*supported: attention_rnn, "
                                                "basic_rnn"):
            import_model(mag)
    mag = ref.write_mag(tmp_path / "b.mag", "basic_rnn", variables, tmp_path)
    with pytest.raises(ImportFailure, match="'basic_rnn' generator; --config=lookback_rnn"):
        import_model(mag, config="lookback_rnn")
    # Shapes that do not fit the config, and variables nobody knows, by name.
    wide = ref.magenta_variables([8], 40, 38)
    bad = ref.write_mag(tmp_path / "wide.mag", "basic_rnn", wide, tmp_path)
    with pytest.raises(ImportFailure, match=r"cell_0/basic_lstm_cell/kernel takes 40 inputs; "
                                            r"basic_rnn's encoding has 38"):
        import_model(bad)
    extra = dict(variables, **{"rnn/cudnn_lstm/opaque_kernel": np.zeros(4, np.float32)})
    odd = ref.write_mag(tmp_path / "odd.mag", "basic_rnn", extra, tmp_path)
    with pytest.raises(ImportFailure, match="rnn/cudnn_lstm/opaque_kernel"):
        import_model(odd)
    with pytest.raises(ImportFailure, match=r"--hparams give layer_sizes=\[64, 64\]; the "
                                            r"checkpoint holds \[16, 12\]"):
        import_model(mag, hparams="rnn_layer_sizes=[64,64]")
    bare = ref.write_checkpoint(variables, str(tmp_path / "bare" / "model.ckpt"), 2)
    with pytest.raises(ImportFailure, match="pass --config"):
        import_model(bare)
    (tmp_path / "junk.mag").write_bytes(b"\xff\xff not a protobuf")
    with pytest.raises(ImportFailure, match="junk.mag: not a Magenta .mag bundle"):
        import_model(tmp_path / "junk.mag")


def test_magenta_js_folders_that_reach_outside_are_refused(tmp_path):
    variables = magenta("basic_rnn")
    containers.write_magenta_js(tmp_path / "js", variables, {"type": "MusicRNN"})
    manifest = json.loads((tmp_path / "js" / "weights_manifest.json").read_text())
    (tmp_path / "secret").write_bytes(b"\0" * 64)
    manifest[0]["paths"] = ["../secret"]
    (tmp_path / "js" / "weights_manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ImportFailure, match="'../secret' is not a plain file name"):
        import_model(tmp_path / "js", config="basic_rnn")
    manifest[0]["paths"] = ["group1-shard1of1"]
    manifest[0]["weights"][0]["shape"] = [10 ** 6, 10]
    (tmp_path / "js" / "weights_manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ImportFailure, match="runs past the end of its shards"):
        import_model(tmp_path / "js", config="basic_rnn")


def test_tar_members_never_choose_where_they_are_written(tmp_path):
    archive = tmp_path / "evil.tar"
    payload = tmp_path / "payload"
    payload.write_bytes(b"x")
    with tarfile.open(archive, "w") as tar:
        tar.add(payload, arcname="../../escaped.index")
    with pytest.raises(ImportFailure, match=r"evil.tar:../../escaped.data-00000-of-00001 "
                                            "not found"):
        import_model(archive, config="basic_rnn")
    assert not (tmp_path.parent / "escaped.index").exists()
    assert not (tmp_path.parent.parent / "escaped.index").exists()


def test_export_to_magenta_js_and_back_is_exact(tmp_path):
    for name in ("basic_rnn", "attention_rnn", "drum_kit_rnn"):
        model = musiczoo.load_bundle(name)
        written = export_magenta_js(model, tmp_path / name)
        assert {p.name for p in written} >= {"weights_manifest.json", "config.json"}
        spec = json.loads((tmp_path / name / "config.json").read_text())
        assert spec["type"] == "MusicRNN"
        names = {w["name"] for w in json.loads(
            (tmp_path / name / "weights_manifest.json").read_text())[0]["weights"]}
        prefix = "rnn/attention_cell_wrapper/" if model.config.attn_length else "rnn/"
        assert prefix + "multi_rnn_cell/cell_0/basic_lstm_cell/kernel" in names
        assert "fully_connected/weights" in names
        back = musiczoo.load_bundle(tmp_path / name)
        inputs, _ = inputs_for(model.config.name)
        np.testing.assert_allclose(back.model(inputs[None]).numpy(),
                                   model.model(inputs[None]).numpy(), atol=1e-5)
        with pytest.raises(outputs.OutputError, match="already exists"):
            export_magenta_js(model, tmp_path / name)


def run_script(module, *args):
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True,
                          text=True, timeout=600)


def test_magentas_command_lines(tmp_path):
    variables = magenta("attention_rnn", seed=5)
    mag = ref.write_mag(tmp_path / "attention_rnn.mag", "attention_rnn", variables, tmp_path)
    out = tmp_path / "generated"
    done = run_script("musiczoo.scripts.generate", "--config=attention_rnn",
                      f"--bundle_file={mag}", f"--output_dir={out}", "--num_outputs=2",
                      "--num_steps=32", '--primer_melody=[60]', "--seed=1", "--wav",
                      "--hparams=rnn_layer_sizes=[16,16]", "--log=INFO")
    assert done.returncode == 0, done.stderr
    mids = sorted(out.glob("*.mid"))
    assert len(mids) == 2 and len(list(out.glob("*.wav"))) == 2
    assert midi_bytes_to_sequence(mids[0].read_bytes()).notes
    # A Magenta run folder (logdir/run1/train), then Magenta's --save_generator_bundle.
    run = tmp_path / "logdir" / "run1"
    ref.write_checkpoint(variables, str(run / "train" / "model.ckpt-300"), 2)
    saved = tmp_path / "mine.mzb"
    done = run_script("musiczoo.scripts.generate", "--config=attention_rnn", f"--run_dir={run}",
                      "--save_generator_bundle", f"--bundle_file={saved}")
    assert done.returncode == 0, done.stderr
    assert_same_logits(musiczoo.load_bundle(saved), variables, "attention_rnn")
    done = run_script("musiczoo.scripts.import_", f"--input={tmp_path / 'nothing.mag'}",
                      f"--output={tmp_path / 'x.mzb'}")
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "nothing.mag" in done.stderr


def test_import_writes_a_bundle_that_loads_without_the_magenta_file(tmp_path):
    from musiczoo.scripts import import_  # noqa: F401  (the module the script runs)
    variables = magenta("drum_kit", seed=2)
    mag = ref.write_mag(tmp_path / "drum_kit.mag", "drum_kit", variables, tmp_path)
    model = import_model(mag)
    model.save_bundle(tmp_path / "drum_kit.mzb")
    shutil.rmtree(tmp_path / "mag")
    mag.unlink()
    again = musiczoo.load_bundle(tmp_path / "drum_kit.mzb")
    assert again.metadata["imported_from"]["container"] == "mag"
    assert_same_logits(again, variables, "drum_kit")
    drums = again.generate(2, 32, seed=1)
    assert all(n.is_drum for s in drums for n in s.notes) and drums[0].notes


VAES = {"cat-mel_2bar_small": dict(enc=[12], dec=[10, 8], z=6),
        "hierdec-mel_16bar": dict(enc=[8, 6], dec=[6], z=5, conductor=[7, 6])}


def vae_case(name, seed=0):
    _, cfg = registry.find_config(name)
    classes = cfg.codec().num_classes
    sizes = VAES[name]
    variables = ref.vae_variables(sizes["enc"], sizes["dec"], sizes["z"], classes, classes,
                                  sizes.get("conductor", ()), seed=seed)
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, classes, cfg.max_seq_len)
    return cfg, variables, targets


def assert_same_vae(model, variables, cfg, targets):
    import tensorflow as tf
    classes = cfg.codec().num_classes
    mu, sigma, logits = ref.vae_forward(variables, np.eye(classes)[targets], targets, classes,
                                        cfg.steps_per_bar if cfg.hierarchical else None)
    ids = tf.constant(targets[None], tf.int32)
    got_mu, got_sigma = model.model.encode(ids)
    np.testing.assert_allclose(got_mu.numpy()[0], mu, atol=TOLERANCE)
    np.testing.assert_allclose(got_sigma.numpy()[0], sigma, atol=TOLERANCE)
    got = model.model.decoder(got_mu, ids).numpy()[0]
    assert np.abs(got - logits).max() < TOLERANCE, np.abs(got - logits).max()


@pytest.mark.parametrize("name", sorted(VAES))
def test_music_vae_checkpoints_give_magentas_numbers(name, tmp_path):
    cfg, variables, targets = vae_case(name, seed=4)
    prefix = ref.write_checkpoint(variables, str(tmp_path / "ckpt" / f"{name}.ckpt"), 2)
    archive = tmp_path / f"{name}.tar"
    with tarfile.open(archive, "w") as tar:
        for path in (tmp_path / "ckpt").iterdir():
            tar.add(path, arcname=path.name)
    model = import_model(archive, config=name)
    assert model.config.z_size == VAES[name]["z"]
    assert_same_vae(model, variables, cfg, targets)
    # Export to Magenta.js, import again: the same numbers.
    export_magenta_js(model, tmp_path / "js")
    again = musiczoo.load_bundle(tmp_path / "js")
    assert again.config.name == name
    assert_same_vae(again, variables, cfg, targets)
    with pytest.raises(ImportFailure, match="holds a MusicVAE; --config=basic_rnn"):
        import_model(prefix, config="basic_rnn")
    wrong = "hierdec-mel_16bar" if name == "cat-mel_2bar_small" else "cat-mel_2bar_small"
    with pytest.raises(ImportFailure, match="pass the --config it was trained with"):
        import_model(prefix, config=wrong)


def test_shipped_vae_exports_and_interpolates_after_the_round_trip(tmp_path):
    vae = musiczoo.load_bundle("cat-mel_2bar_small")
    export_magenta_js(vae, tmp_path / "js")
    back = musiczoo.load_bundle(tmp_path / "js")
    _, cfg = registry.find_config("cat-mel_2bar_small")
    ids = np.random.default_rng(1).integers(0, cfg.codec().num_classes, (2, cfg.max_seq_len))
    a, b = vae.model(ids, sample_z=False), back.model(ids, sample_z=False)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x.numpy(), y.numpy(), atol=1e-5)


def test_music_vae_generate_command_line(tmp_path):
    from musiczoo.pipelines.extract import melodies
    from musiczoo.pipelines.writers import write_midi
    cfg, variables, _ = vae_case("cat-mel_2bar_small", seed=9)
    ref.write_checkpoint(variables, str(tmp_path / "ck" / "model.ckpt-100"), 2)
    archive = tmp_path / "cat-mel_2bar_small.tar"
    with tarfile.open(archive, "w") as tar:
        for path in (tmp_path / "ck").iterdir():
            tar.add(path, arcname=f"cat-mel_2bar_small/{path.name}")
    for name, pitches in (("a", [60, 62, 64, 65, 67, 69, 71, 72]),
                          ("b", [72, 67, 64, 60, 62, 65, 69, 71])):
        events = [e for p in pitches for e in (p, -2, -2, -2)]
        write_midi(melodies.melody_to_note_sequence(events, 4), tmp_path / f"{name}.mid")
    done = run_script("musiczoo.scripts.generate", "--config=cat-mel_2bar_small",
                      f"--checkpoint_file={archive}", "--mode=interpolate",
                      f"--input_midi_1={tmp_path / 'a.mid'}", f"--input_midi_2={tmp_path / 'b.mid'}",
                      "--num_outputs=3", f"--output_dir={tmp_path / 'out'}", "--seed=1")
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in (tmp_path / "out").glob("*.mid"))
    assert len(written) == 4 and written[-1].endswith("_all.mid")  # 3 points + all of them
    paths = musiczoo.generate(archive, tmp_path / "sampled", num_outputs=2, config=cfg.name,
                              seed=1)
    assert len(paths) == 2


CONDITIONED = ["density_conditioned_performance_with_dynamics",
               "pitch_conditioned_performance_with_dynamics",
               "multiconditioned_performance_with_dynamics",
               "optional_multiconditioned_performance_with_dynamics"]
HISTOGRAM = [2, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1]


def magenta_control(name, density, histogram):
    """Magenta's control input, written out: [optional flag] + density bin one-hot (bins
    below 1, 2, 4, 8, 16, 32, 64 notes per second, or above) + normalised histogram."""
    parts = [[0.0]] if name.startswith("optional") else []
    if "pitch_conditioned" not in name:
        bins = np.zeros(8)
        bins[next((k for k, edge in enumerate([1, 2, 4, 8, 16, 32, 64]) if density < edge), 7)] = 1
        parts.append(bins)
    if "density_conditioned" not in name:
        parts.append(np.asarray(histogram, float) / sum(histogram))
    return np.concatenate(parts).astype(np.float32)


@pytest.mark.parametrize("name", CONDITIONED)
def test_conditioned_performance_mags_take_magentas_controls(name, tmp_path):
    _, cfg = registry.find_config(name)
    codec = cfg.codec()
    variables = ref.magenta_variables([10, 8], codec.input_size, codec.num_classes, seed=6)
    mag = ref.write_mag(tmp_path / f"{name}.mag", name, variables, tmp_path)
    model = musiczoo.load_bundle(mag)
    assert model.config.name == name
    ids = np.random.default_rng(5).integers(0, codec.num_classes, 48)
    control = magenta_control(name, 3.0, HISTOGRAM)
    inputs = np.concatenate([np.tile(control, (len(ids), 1)), np.eye(codec.num_classes)[ids]],
                            axis=1).astype(np.float32)
    want = ref.magenta_logits(variables, inputs, [10, 8])
    assert np.abs(model.model(inputs[None]).numpy()[0] - want).max() < TOLERANCE
    settings = {}
    if "pitch_conditioned" not in name:
        settings["notes_per_second"] = 3.0
    if "density_conditioned" not in name:
        settings["pitch_class_histogram"] = str(HISTOGRAM)
    np.testing.assert_allclose(codec.control_vector(3.0, HISTOGRAM), control)
    first = model.generate(2, 64, seed=1, **settings)
    again = model.generate(2, 64, seed=1, **settings)
    assert [s.SerializeToString() for s in first] == [s.SerializeToString() for s in again]
    other = dict(settings, **({"notes_per_second": 40.0} if "notes_per_second" in settings
                              else {"pitch_class_histogram": "[0,0,0,0,0,0,0,5,0,0,0,0]"}))
    changed = model.generate(2, 64, seed=1, **other)  # the control reaches the loop
    assert [s.SerializeToString() for s in changed] != [s.SerializeToString() for s in first]
    paths = musiczoo.generate(mag, tmp_path / "out", num_outputs=1, num_steps=32, seed=1,
                              **settings)
    assert len(paths) == 1
    if "density_conditioned" not in name:
        with pytest.raises(ValueError, match="pitch_class_histogram must be 12 numbers"):
            model.generate(1, 16, pitch_class_histogram="[1, 2]")
    else:
        with pytest.raises(ValueError, match="conditioned on notes_per_second, not "
                                             "pitch_class_histogram"):
            model.generate(1, 16, pitch_class_histogram=str(HISTOGRAM))


def test_conditioning_flags_elsewhere_are_refused(tmp_path):
    with pytest.raises(ValueError, match="--notes_per_second applies to Magenta's conditioned"):
        musiczoo.generate("basic_rnn", tmp_path, num_outputs=1, notes_per_second=4.0)
    with pytest.raises(registry.RegistryError, match="optionally conditioned Performance RNN"):
        musiczoo.create_dataset("optional_multiconditioned_performance_with_dynamics",
                                "bach_chorales", tmp_path / "ds")


def test_modulo_encoded_performance_mag_matches_note_seqs_inputs(tmp_path):
    from note_seq.performance_encoder_decoder import (
        ModuloPerformanceEventSequenceEncoderDecoder, PerformanceOneHotEncoding)
    name = "performance_with_dynamics_and_modulo_encoding"
    _, cfg = registry.find_config(name)
    codec = cfg.codec()
    variables = ref.magenta_variables([10, 8], codec.input_size, codec.num_classes, seed=8)
    model = musiczoo.load_bundle(ref.write_mag(tmp_path / "m.mag", name, variables, tmp_path))
    ids = np.random.default_rng(6).integers(0, codec.num_classes, 48)
    # note_seq's own classes and inputs, not musiczoo's table.
    one_hot = PerformanceOneHotEncoding(num_velocity_bins=32)
    modulo = ModuloPerformanceEventSequenceEncoderDecoder(num_velocity_bins=32)
    events = [one_hot.decode_event(int(i)) for i in ids]
    inputs = np.asarray([modulo.events_to_input(events, k) for k in range(len(events))],
                        np.float32)
    np.testing.assert_allclose(codec.inputs_from_ids(ids), inputs, atol=1e-7)
    want = ref.magenta_logits(variables, inputs, [10, 8])
    assert np.abs(model.model(inputs[None]).numpy()[0] - want).max() < TOLERANCE
    state, stepped = model.model.initial_state(1), []
    from musiczoo.models.events_rnn import tf_inputs
    import tensorflow as tf
    input_fn = tf_inputs.make_input_fn(codec)     # what the compiled loop feeds
    for k in range(len(ids)):
        row = input_fn(tf.constant(ids[None, :k + 1], tf.int32), tf.constant(k + 1))
        np.testing.assert_allclose(row.numpy()[0], inputs[k], atol=1e-7)
    pieces = model.generate(2, 200, seed=1)
    assert any(p.notes for p in pieces)
