"""MusicVAE: data windows, objective pieces, a tiny config trained on real chorales,
encode/decode/interpolate, seeds, the CLI, and the errors users meet."""
import json
import math
import re

import numpy as np
import pytest
from note_seq.protobuf import music_pb2

import musiczoo
from musiczoo import commands, registry
from musiczoo.models.music_vae import inputs, network
from musiczoo.models.music_vae.model import concatenate, slerp
from musiczoo.pipelines.extract import melodies, notearrays
from musiczoo.pipelines.readers.errors import ReadError
from musiczoo.pipelines.stats import Stats
from musiczoo.pipelines.writers import write_midi

TINY = "enc_rnn_size=[24],dec_rnn_size=[24],z_size=6,batch_size=16"
TINY_HIER = TINY + ",slice_bars=4,conductor_rnn_size=[12],free_bits=0"


def melody_file(path, pitches, step_seconds=0.125, drums=False, qpm=120.0):
    """A MIDI file of one note per 16th-note step (None: a rest)."""
    sequence = music_pb2.NoteSequence(ticks_per_quarter=220)
    sequence.tempos.add(qpm=qpm)
    sequence.time_signatures.add(numerator=4, denominator=4)
    for step, pitch in enumerate(pitches):
        if pitch is not None:
            sequence.notes.add(pitch=pitch, velocity=90, start_time=step * step_seconds,
                               end_time=(step + 1) * step_seconds, is_drum=drums,
                               instrument=9 if drums else 0)
    sequence.total_time = len(pitches) * step_seconds
    write_midi(sequence, path)
    return path


@pytest.fixture(scope="module")
def vae_dataset(tmp_path_factory, chorale_folder):
    folder = chorale_folder(30)
    out = tmp_path_factory.mktemp("vae_dataset")
    result = commands.create_dataset("cat-mel_2bar_small", str(folder), out, eval_ratio=0.2,
                                     progress=False)
    assert result.counts["training"] > 50 and result.counts["eval"] > 5
    return out


@pytest.fixture(scope="module")
def trained(vae_dataset, tmp_path_factory):
    run = tmp_path_factory.mktemp("vae_run")
    first = commands.train(vae_dataset, run, config="cat-mel_2bar_small", hparams=TINY,
                           num_training_steps=1, eval_every=1, progress=False)
    later = commands.train(vae_dataset, run, config="cat-mel_2bar_small", hparams=TINY,
                           num_training_steps=80, eval_every=80, progress=False)
    return first, later, run / "cat-mel_2bar_small.mzb"


@pytest.fixture(scope="module")
def vae(trained):
    return musiczoo.load_bundle(trained[2])


def test_windows_are_two_bars_distinct_and_counted(chorales):
    _, config = registry.find_config("cat-mel_2bar_small")
    stats = Stats()
    arrays = [notearrays.from_note_sequence(s) for s in chorales]
    windows = config.extractor().extract(arrays, stats)
    assert len(windows) > 100
    assert all(len(events) == 32 for _, events in windows)
    per_source = {}
    for source, events in windows:
        per_source.setdefault(source, set()).add(tuple(events))
    assert sum(len(v) for v in per_source.values()) == len(windows)   # distinct per piece
    assert stats["windows_extracted"] == len(windows)
    codec = config.codec()
    inputs_, labels = codec.encode(windows[0][1])
    assert inputs_.shape == (32, 1) and labels.shape == (32,) and codec.num_classes == 90
    np.testing.assert_array_equal(codec.ids_to_events(labels), windows[0][1])


def test_eval_windows_that_equal_a_training_window_are_dropped(tmp_path):
    from musiczoo.pipelines.datasets import tfrecord
    from musiczoo.pipelines.extract import transforms
    from musiczoo.pipelines.readers.records import write_note_sequences
    bars = {"A": [60, 62, 64, 65], "B": [67, 65, 64, 62], "C": [72, 71, 69, 67],
            "D": [60, 64, 67, 72]}

    def piece(sequence_id, names):                       # one quarter note per beat
        sequence = music_pb2.NoteSequence(id=sequence_id, ticks_per_quarter=220)
        sequence.tempos.add(qpm=120)
        sequence.time_signatures.add(numerator=4, denominator=4)
        for beat, pitch in enumerate(p for name in names for p in bars[name]):
            sequence.notes.add(pitch=pitch, velocity=90, start_time=beat * 0.5,
                               end_time=beat * 0.5 + 0.5)
        sequence.total_time = 2.0 * len(names)
        return sequence

    # piece_0 and piece_1 fall on the eval side of a 0.5 split, piece_2 on training's.
    assert [transforms.is_eval(f"/id/test/piece_{i}", 0.5) for i in range(3)] == [
        True, True, False]
    # Windows (2 bars each): eval BB|BD|DD and AA|AC|CC, training AA|AB|BB. The eval piece
    # that shares BB comes before the training piece in the input, the other after it.
    sequences = [piece("/id/test/piece_0", "BBDD"), piece("/id/test/piece_2", "AABB"),
                 piece("/id/test/piece_1", "AACC")]
    write_note_sequences(tmp_path / "in.tfrecord", sequences)
    result = commands.create_dataset("cat-mel_2bar_small", str(tmp_path / "in.tfrecord"),
                                     tmp_path / "ds", eval_ratio=0.5, progress=False)
    counts = result.stats.as_dict()["counts"]
    assert counts["windows_extracted"] == 9
    assert counts["eval_windows_duplicate_of_training"] == 2
    assert result.counts == {"training": 3, "eval": 4} and counts["eval_examples"] == 4
    training = {tuple(labels) for _, labels in tfrecord.read_examples(result.paths["training"], 1)}
    held_out = [tuple(labels) for _, labels in tfrecord.read_examples(result.paths["eval"], 1)]
    assert len(training) == 3 and len(held_out) == 4 == len(set(held_out))
    assert not training & set(held_out)
    info = json.loads(result.info_path.read_text())
    assert info["examples"] == {"training": 3, "eval": 4}
    assert info["statistics"]["counts"]["eval_windows_duplicate_of_training"] == 2


def test_objective_pieces():
    import tensorflow as tf
    mu = np.array([[0.5, -1.0]], np.float32)
    sigma = np.array([[0.5, 2.0]], np.float32)
    expected = 0.5 * np.sum(mu ** 2 + sigma ** 2 - 1 - 2 * np.log(sigma))
    assert float(network.kl_divergence(mu, sigma)[0]) == pytest.approx(expected, rel=1e-5)
    assert float(network.kl_divergence(np.zeros((1, 3)), np.ones((1, 3)))[0]) == pytest.approx(
        0.0, abs=1e-6)
    _, config = registry.find_config("cat-mel_2bar_small")
    assert float(network.beta(config, 0)) == 0.0
    assert float(network.beta(config, 10 ** 6)) == pytest.approx(0.2, rel=1e-3)
    p = [float(network.sampling_probability(config, s)) for s in (0, 5000, 6908, 20000)]
    assert p[0] < 0.01 and p == sorted(p) and p[2] == pytest.approx(0.5, abs=0.01)
    assert p[3] > 0.99
    schedule = network.DecayingLearningRate(1e-3, 0.9999, 1e-5)
    assert float(schedule(0)) == pytest.approx(1e-3)
    assert float(schedule(10 ** 6)) == pytest.approx(1e-5)
    ids = tf.constant([[0, 1, 2, 60, 89], [0, 1, 40, 50, 60]])
    moved = network.transpose_ids(ids, 5, 90).numpy()
    assert (moved[:, :2] == [[0, 1], [0, 1]]).all()            # specials never move
    assert moved.min() >= 0 and moved.max() < 90
    shift = moved[1, 2:] - ids.numpy()[1, 2:]
    assert len(set(shift.tolist())) == 1 and abs(shift[0]) <= 5  # one shift per window


def test_step_by_step_decoding_matches_teacher_forcing():
    for hparams in (TINY, TINY_HIER):
        family, config = commands.resolve_config("cat-mel_2bar_small", hparams=hparams)
        vae = family.model_class().from_config(config)
        z = np.random.default_rng(1).standard_normal((3, config.z_size)).astype(np.float32)
        ids = vae.decode_ids(z, top_k=1, seed=0)           # greedy through the compiled loop
        assert ids.shape == (3, config.max_seq_len)
        logits = vae.model.decoder(z, ids).numpy()         # training path, same weights
        np.testing.assert_array_equal(logits.argmax(-1), ids)


def test_training_lowers_loss_and_writes_a_bundle(trained):
    first, later, path = trained
    assert later["step"] == 80
    assert later["eval_nll_per_step"] < first["eval_nll_per_step"] - 0.5
    assert later["eval_accuracy"] > first["eval_accuracy"]
    assert path.exists()


def test_encode_decode_shapes_and_seeds(vae, chorale_paths):
    z, mu, sigma = vae.encode([chorale_paths[0], chorale_paths[1]])
    assert z.shape == mu.shape == sigma.shape == (2, 6) and (sigma > 0).all()
    sequences = vae.decode(mu, temperature=0.5, seed=3)
    assert len(sequences) == 2
    assert all(note.end_time <= 4.0 + 1e-6 for s in sequences for note in s.notes)  # 2 bars
    again = vae.decode(mu, temperature=0.5, seed=3)
    assert [[(n.pitch, n.start_time) for n in s.notes] for s in sequences] == \
        [[(n.pitch, n.start_time) for n in s.notes] for s in again]
    first = vae.sample(4, seed=5)
    assert [list(s.notes) for s in first] == [list(s.notes) for s in vae.sample(4, seed=5)]
    assert [list(s.notes) for s in first] != [list(s.notes) for s in vae.sample(4, seed=6)]


def test_slerp_and_interpolation_ends(vae, chorale_paths):
    a, b = np.array([1.0, 0.0, 0.0]), np.array([0.0, 2.0, 0.0])
    np.testing.assert_allclose(slerp(a, b, 0.0), a, atol=1e-12)
    np.testing.assert_allclose(slerp(a, b, 1.0), b, atol=1e-12)
    middle = slerp(a, b / 2, 0.5)          # unit vectors: the arc's midpoint, on the sphere
    assert math.isclose(np.arctan2(middle[1], middle[0]), math.pi / 4)
    assert math.isclose(np.linalg.norm(middle), 1.0)
    path = vae.interpolation_path(chorale_paths[0], chorale_paths[1], num_steps=5)
    _, mu, _ = vae.encode([chorale_paths[0], chorale_paths[1]])
    assert path.shape == (5, 6)
    np.testing.assert_allclose(path[0], mu[0], atol=1e-5)
    np.testing.assert_allclose(path[-1], mu[1], atol=1e-5)


def test_window_choice_is_explained(vae, tmp_path):
    long = melody_file(tmp_path / "long.mid", [60, None, 62, 64, 65, 67, 69, 71] * 8)  # 4 bars
    windows, _ = inputs.find_windows(long, vae.config)
    assert sorted(bar for _, bar, _ in windows) == [0, 1, 2]
    events, note = inputs.choose_window(long, vae.config, "bar=2")
    assert "bar 2" in note and len(events) == 32
    with pytest.raises(inputs.InputError, match=r"no 2-bar window starts at bar 7.*\[0, 1, 2\]"):
        inputs.choose_window(long, vae.config, "bar=7")
    with pytest.raises(inputs.InputError, match="unknown window choice"):
        inputs.choose_window(long, vae.config, "middle")


def test_bad_inputs_get_clear_errors(vae, tmp_path, trained):
    garbage = tmp_path / "broken.mid"
    garbage.write_bytes(b"MThd\x00\x00 not a midi file")
    with pytest.raises(ReadError, match="broken.mid"):
        vae.encode([garbage])
    short = melody_file(tmp_path / "short.mid", [60, 62, 64, 65])
    with pytest.raises(inputs.InputError, match=r"short.mid: no 2-bar melody"):
        vae.encode([short])
    beats = melody_file(tmp_path / "beats.mid", [36, None, 42, None] * 16, drums=True)
    with pytest.raises(inputs.InputError, match=r"beats.mid: the file holds only drums"):
        vae.interpolate(beats, short)
    with pytest.raises(inputs.InputError, match="20 steps long.*exactly 32"):
        vae.encode([np.full(20, -2)])
    with pytest.raises(inputs.InputError, match="outside this codec's range"):
        vae.encode([np.full(32, 10)])
    with pytest.raises(ValueError, match="takes no primer"):
        vae.generate_to_midi(tmp_path, 2, primer_melody="[60]")
    with pytest.raises(ValueError, match="always makes 32 steps"):
        vae.generate_to_midi(tmp_path, 2, num_steps=64)


def test_drums_vae_reads_drum_files_and_refuses_melodies(tmp_path):
    family, config = commands.resolve_config("cat-drums_2bar_small", hparams=TINY)
    vae = family.model_class().from_config(config)
    beats = melody_file(tmp_path / "beats.mid", [36, None, 42, None, 38, None, 42, 42] * 8,
                        drums=True)
    z, _, _ = vae.encode([beats])
    assert z.shape == (1, 6)
    sequence = vae.decode(z, seed=1)[0]
    # An untrained decoder samples near-uniformly over the 512 kit classes: it plays, and
    # what it plays is drums only, on the 9-piece kit's pitches.
    from musiczoo.pipelines.codecs.drums import DEFAULT_DRUM_TYPE_PITCHES
    assert len(sequence.notes) >= 8
    kit = {pitch for pitches in DEFAULT_DRUM_TYPE_PITCHES for pitch in pitches}
    assert all(note.is_drum and note.pitch in kit for note in sequence.notes)
    tune = melody_file(tmp_path / "tune.mid", [60, 62, 64, 65] * 16)
    with pytest.raises(inputs.InputError, match="tune.mid: the file has no drum notes"):
        vae.encode([tune])


def test_interpolate_command_writes_the_path(trained, tmp_path, chorale_paths):
    from musiczoo.pipelines.readers.files import read_file
    paths = commands.interpolate(str(trained[2]), str(chorale_paths[2]), str(chorale_paths[3]),
                                 tmp_path, num_outputs=4, seed=1, overwrite=True)
    names = [p.name for p in paths]
    assert names == [f"cat-mel_2bar_small_interp_{n:03d}.mid" for n in range(1, 5)] + [
        "cat-mel_2bar_small_interp_all.mid"]
    assert all(read_file(p) for p in paths)                   # real MIDI files
    # Again without overwrite: a new set beside the first, named by the run, same music.
    again = commands.interpolate(str(trained[2]), str(chorale_paths[2]), str(chorale_paths[3]),
                                 tmp_path, num_outputs=4, seed=1)
    assert len(again) == 5 and not set(again) & set(paths)
    assert all(re.fullmatch(r"cat-mel_2bar_small_interp_\d{8}-\d{6}(-\d+)?_(\d{3}|all)\.mid",
                            p.name) for p in again)
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in paths]
    a = melodies.melody_to_note_sequence([60] + [-2] * 31, 4)
    b = melodies.melody_to_note_sequence([-2] * 16 + [67] + [-2] * 15, 4)
    whole = concatenate([a, b, a], 32, 4)                     # 2 bars each at 120 qpm
    assert [(n.pitch, n.start_time) for n in whole.notes] == [(60, 0.0), (67, 6.0), (60, 8.0)]
    assert whole.total_time == 12.0
    generated = commands.generate(str(trained[2]), tmp_path / "gen", num_outputs=3, seed=2)
    assert len(generated) == 3 and all(p.exists() for p in generated)


def test_interpolate_script_explains_a_drum_file_in_one_line(trained, tmp_path):
    from tests.test_cli import run_script
    beats = melody_file(tmp_path / "beats.mid", [36, None, 42, None] * 16, drums=True)
    tune = melody_file(tmp_path / "tune.mid", [60, 62, 64, 65] * 16)
    result = run_script("interpolate", f"--bundle={trained[2]}", f"--input_midi_1={beats}",
                        f"--input_midi_2={tune}", f"--output_dir={tmp_path}")
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("musiczoo_")]
    assert errors == [f"musiczoo_interpolate: error: {beats}: the file holds only drums "
                      "(32 drum notes); cat-mel_2bar_small is a melody model (a drums model "
                      "such as cat-drums_2bar_small takes this file)"]


def test_hierarchical_config_trains_on_real_windows(tmp_path, chorale_folder):
    folder = chorale_folder(30)
    hparams = TINY_HIER                                   # 4 bars, conductor over bars
    data = commands.create_dataset("hierdec-mel_16bar", str(folder), tmp_path / "ds",
                                   hparams=hparams, eval_ratio=0.2, progress=False)
    assert data.counts["training"] > 20
    first = commands.train(tmp_path / "ds", tmp_path / "run", config="hierdec-mel_16bar",
                           hparams=hparams, num_training_steps=1, eval_every=1, progress=False)
    later = commands.train(tmp_path / "ds", tmp_path / "run", config="hierdec-mel_16bar",
                           hparams=hparams, num_training_steps=40, eval_every=40,
                           progress=False)
    assert later["eval_nll_per_step"] < first["eval_nll_per_step"]
    vae = musiczoo.load_bundle(tmp_path / "run" / "hierdec-mel_16bar.mzb")
    assert vae.config.hierarchical and vae.window_steps == 64
    assert vae.decode_ids(np.zeros((2, 6), np.float32), seed=1).shape == (2, 64)


@pytest.mark.parametrize("cell_type", ["gru", "layer_norm_lstm"])
def test_other_cell_types_train_and_decode_step_by_step(cell_type, vae_dataset, tmp_path):
    hparams = f"{TINY},cell_type={cell_type}"
    for shape in (hparams, f"{TINY_HIER},cell_type={cell_type}"):
        family, config = commands.resolve_config("cat-mel_2bar_small", hparams=shape)
        model = family.model_class().from_config(config)
        assert any(cell_type in w.path for w in model.model.weights)
        z = np.random.default_rng(2).standard_normal((2, config.z_size)).astype(np.float32)
        ids = model.decode_ids(z, top_k=1, seed=0)
        np.testing.assert_array_equal(model.model.decoder(z, ids).numpy().argmax(-1), ids)
    first = commands.train(vae_dataset, tmp_path, config="cat-mel_2bar_small", hparams=hparams,
                           num_training_steps=1, eval_every=1, progress=False)
    later = commands.train(vae_dataset, tmp_path, config="cat-mel_2bar_small", hparams=hparams,
                           num_training_steps=60, eval_every=60, progress=False)
    assert later["eval_loss"] < first["eval_loss"]
    loaded = musiczoo.load_bundle(tmp_path / "cat-mel_2bar_small.mzb")
    assert loaded.config.cell_type == cell_type and len(loaded.sample(2, seed=1)) == 2
