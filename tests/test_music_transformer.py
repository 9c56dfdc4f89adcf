"""Music Transformer: codecs, the chorale grid, cached vs uncached sampling, a tiny config
trained on real chorales, bundles, the CLI, and the errors users meet."""
import numpy as np
import pytest
import tensorflow as tf

import musiczoo
from musiczoo import commands, registry
from musiczoo.models.events_rnn.primers import PrimerError
from musiczoo.models.music_transformer.model import MusicTransformer
from musiczoo.models.music_transformer.network import transpose_tokens
from musiczoo.pipelines.codecs.chorale import REST, ChoraleGridCodec
from musiczoo.pipelines.codecs.tokens import TokenCodec
from musiczoo.pipelines.datasets import tfrecord
from musiczoo.pipelines.extract import chorales, notearrays
from musiczoo.pipelines.readers import corpora
from musiczoo.pipelines.readers.files import read_file
from musiczoo.pipelines.readers.records import write_note_sequences
from musiczoo.pipelines.writers import write_midi

TINY = ("num_layers=2,d_model=32,num_heads=4,ff_size=64,max_relative_position=32,"
        "max_length=96,batch_size=8,warmup_steps=5,learning_rate=0.003")


def tiny(config="chorale_transformer", extra=""):
    _, cfg = registry.find_config(config)
    return MusicTransformer(registry.apply_hparams(cfg, TINY + extra))


def read_grid(path):
    sequence = read_file(path)[0]
    return chorales.voice_grid(notearrays.from_note_sequence(sequence),
                               order=chorales.named_voice_order(sequence))


@pytest.fixture(scope="module")
def bach():
    return list(corpora.bach_chorales())[:12]


def test_grid_codec_round_trip_and_token_offsets():
    codec = ChoraleGridCodec(30, 90)
    grid = np.array([[72, 67, 64, 48], [72, 67, REST, 48], [74, 65, 62, 47]])
    ids = codec.events_to_ids(grid)
    assert len(ids) == 12 and ids[6] == 0 and ids[0] == 72 - 30 + 1
    np.testing.assert_array_equal(codec.ids_to_events(ids), grid)
    tokens = TokenCodec(codec)
    inputs, labels = tokens.encode(grid)
    assert inputs[0, 0] == codec.num_classes  # start symbol
    np.testing.assert_array_equal(inputs[1:, 0], labels[:-1])
    np.testing.assert_array_equal(labels, ids)
    with pytest.raises(ValueError, match="pitch 20 at step 0, voice 3"):
        codec.events_to_ids([[72, 67, 64, 20]])


def test_performance_vocabularies_are_magentas():
    sizes = {name: MusicTransformer.from_config(registry.apply_hparams(
        registry.find_config(name)[1], TINY)).codec.num_classes
        for name in ("performance_transformer", "performance_transformer_88")}
    assert sizes == {"performance_transformer": 388, "performance_transformer_88": 310}


def test_chorale_grid_from_real_chorales_and_back(bach):
    for chorale in bach[:5]:
        grid = chorales.voice_grid(notearrays.from_note_sequence(chorale))
        assert grid.shape[1] == 4 and len(grid) >= 32
        sounding = np.where(grid == REST, np.nan, grid)
        means = np.nanmean(sounding, axis=0)
        assert list(means) == sorted(means, reverse=True)  # soprano ... bass
        again = chorales.voice_grid(notearrays.from_note_sequence(
            chorales.grid_to_note_sequence(grid)))
        np.testing.assert_array_equal(again, grid)


def test_transposition_moves_inputs_and_labels_together():
    codec = TokenCodec(ChoraleGridCodec(30, 90))
    ranges = codec.pitch_id_ranges()
    start, top = codec.start_id, codec.num_classes - 1
    ids = tf.constant([[start, 1, 40, 5, 0], [start, top - 2, top - 1, top, 0]] * 8)
    labels = tf.constant([[1, 40, 5, 7, 0], [top - 2, top - 1, top, top, 0]] * 8)
    lengths = tf.constant([4, 4] * 8)
    moved_ids, moved_labels = (t.numpy() for t in transpose_tokens(ids, labels, lengths,
                                                                   ranges, 3, seed=4))
    shifts = moved_labels[:, 0] - labels.numpy()[:, 0]
    assert set(shifts[::2]) - {0} and set(shifts) <= set(range(-3, 4))
    np.testing.assert_array_equal(moved_ids[:, 0], start)              # start symbol stays
    np.testing.assert_array_equal(moved_ids[:, 1:4] - ids.numpy()[:, 1:4],
                                  np.repeat(shifts[:, None], 3, 1))
    np.testing.assert_array_equal(moved_labels[:, :4] - labels.numpy()[:, :4],
                                  np.repeat(shifts[:, None], 4, 1))
    np.testing.assert_array_equal(moved_labels[:, 4], 0)              # padding untouched
    np.testing.assert_array_equal(moved_ids[:, 4], 0)
    assert (shifts[1::2] <= 0).all()   # the piece at the top of the range only moves down


def test_cached_sampling_equals_uncached():
    model = tiny()
    primer = np.tile(model.codec.tokens(np.full((3, 4), 60)), (3, 1))
    cached, cached_scores = model.generate_tokens(primer, 120, seed=11, top_k=20)
    plain, plain_scores = model.generate_tokens(primer, 120, seed=11, top_k=20, cached=False)
    np.testing.assert_array_equal(cached, plain)            # beyond max_length and max_rel
    np.testing.assert_allclose(cached_scores, plain_scores, rtol=1e-4)
    again, _ = model.generate_tokens(primer, 120, seed=11, top_k=20)
    np.testing.assert_array_equal(again, cached)
    other, _ = model.generate_tokens(primer, 120, seed=12, top_k=20)
    assert (other != cached).any()
    # Step by step through the cache == the whole sequence at once.
    ids = tf.constant(cached[:, :50])
    state, steps = model.model.initial_state(3), []
    for t in range(50):
        logits, state = model.model.step(ids[:, t:t + 1], state)
        steps.append(logits.numpy())
    np.testing.assert_allclose(np.stack(steps, 1), model.model(ids).numpy(), atol=1e-4)


def test_beam_search_carries_the_caches():
    model = tiny()
    primer = np.tile(model.codec.tokens(np.full((2, 4), 62)), (2, 1))
    sampled, _ = model.generate_tokens(primer, 24, seed=3)
    beams, beam_scores = model.generate_tokens(primer, 24, seed=3, beam_size=3,
                                               branch_factor=2, steps_per_iteration=4)
    assert beams.shape == sampled.shape == (2, 9 + 24)
    np.testing.assert_array_equal(beams[:, :9], primer)
    # Its score is what the model gives the path (the caches followed every reordering).
    log_probs = tf.nn.log_softmax(model.model(tf.constant(beams[:, :-1]))).numpy()
    rescored = np.take_along_axis(log_probs[:, 8:], beams[:, 9:, None], -1).sum((1, 2))
    np.testing.assert_allclose(rescored, beam_scores, rtol=1e-4)


def test_reserved_ids_are_never_sampled():
    model = tiny("performance_transformer_88")
    ids, _ = model.generate_tokens(np.array([[model.codec.start_id]]), 200, seed=1)
    assert ids[0, 1:].min() >= 2


@pytest.fixture(scope="module")
def trained(tmp_path_factory, bach):
    data = tmp_path_factory.mktemp("mt_data")
    corpus = data / "chorales.tfrecord"           # the corpus' four sung parts of 12 chorales
    write_note_sequences(corpus, bach)
    result = commands.create_dataset("chorale_transformer", str(corpus), data,
                                     eval_ratio=0.25, progress=False)
    assert result.counts["training"] >= 8 and result.counts["eval"] >= 2
    run = tmp_path_factory.mktemp("mt_run")
    first = commands.train(data, run, config="chorale_transformer", hparams=TINY,
                           num_training_steps=1, eval_every=1, progress=False, seed=1)
    later = commands.train(data, run, config="chorale_transformer", hparams=TINY,
                           num_training_steps=40, eval_every=40, progress=False, seed=1)
    return data, first, later, run / "chorale_transformer.mzb"


def test_tiny_config_trains_on_real_chorales(trained):
    data, first, later, bundle = trained
    assert later["step"] == 40
    assert later["eval_loss"] < first["eval_loss"] - 0.5
    assert later["loss"] < first["loss"]
    # Eval chunks cover every held-out token exactly once.
    _, info = __import__("musiczoo.training", fromlist=["x"]).dataset_files(data)
    path = data / info["files"]["eval"]
    whole = sum(len(labels) for _, labels in tfrecord.read_examples(path, 1))
    chunked = sum(int(lengths.numpy().sum()) for (_, lengths), _ in tfrecord.make_input_fn(
        path, 1, 4, shuffle=False, max_length=96, chunks=True))
    assert chunked == whole
    # Training crops start on a grid step (soprano first), behind the start symbol.
    pieces = [labels for _, labels in tfrecord.read_examples(path, 1)]
    (inputs, lengths), labels = next(iter(tfrecord.make_input_fn(
        path, 1, 16, shuffle=True, max_length=96, crop_align=4, crop_start_input=[61.0],
        seed=3)))
    for row, label in zip(inputs.numpy()[..., 0], labels.numpy()):
        assert row[0] == 61.0
        offsets = [o for piece in pieces for o in range(0, len(piece) - 95, 4)
                   if (piece[o:o + 96] == label).all()]
        assert offsets, "every crop is a step-aligned window of a held-out piece"


def test_bundle_generates_chorales_and_continues_a_primer(trained, tmp_path, bach):
    model = musiczoo.load_bundle(trained[3])
    assert isinstance(model, MusicTransformer)
    primer_path = tmp_path / "primer.mid"
    write_midi(chorales.grid_to_note_sequence(
        chorales.voice_grid(notearrays.from_note_sequence(bach[0]))[:16]), primer_path)
    paths = commands.generate(trained[3], tmp_path / "out", num_outputs=2, num_steps=32,
                              primer_midi=str(primer_path), temperature=0.9, top_k=10, seed=5)
    assert len(paths) == 2
    primer_grid = read_grid(primer_path)
    for path in paths:
        grid = read_grid(path)
        assert len(grid) <= 32
        np.testing.assert_array_equal(grid[:16], primer_grid)
    again = commands.generate(trained[3], tmp_path / "again", num_outputs=2, num_steps=32,
                              primer_midi=str(primer_path), temperature=0.9, top_k=10, seed=5)
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in paths]


def test_clear_errors(trained, tmp_path, bach):
    model = musiczoo.load_bundle(trained[3])
    with pytest.raises(ValueError, match="num_heads \\(3\\) must divide the width d_model"):
        registry.apply_hparams(registry.find_config("chorale_transformer")[1], "num_heads=3")
    long_primer = tmp_path / "long.mid"
    write_midi(chorales.grid_to_note_sequence(
        chorales.voice_grid(notearrays.from_note_sequence(bach[0]))[:40]), long_primer)
    with pytest.raises(PrimerError, match="160 tokens long .*context is 96 tokens"):
        model.generate(1, num_steps=64, primer=str(long_primer))
    broken = tmp_path / "broken.mid"
    broken.write_bytes(b"MThd\x00\x00\x00\x06garbage")
    with pytest.raises(PrimerError, match="unreadable primer: .*broken.mid"):
        model.generate(1, num_steps=64, primer=str(broken))
    with pytest.raises(PrimerError, match="pitch 12 .*outside this codec's range"):
        model.generate(1, num_steps=8, primer=[[72, 67, 64, 12]])
    trio = tmp_path / "trio.mid"
    grid = chorales.voice_grid(notearrays.from_note_sequence(bach[0]))[:8]
    sequence = chorales.grid_to_note_sequence(grid)
    kept = [n for n in sequence.notes if n.instrument != 3]
    del sequence.notes[:]
    sequence.notes.extend(kept)
    write_midi(sequence, trio)
    with pytest.raises(PrimerError, match="needs 4 voices .*found 3"):
        model.generate(1, num_steps=16, primer=str(trio))
    with pytest.raises(ValueError, match="--primer_melody does not apply"):
        commands.generate(trained[3], tmp_path / "x", num_outputs=1, primer_melody="[60]")


def test_generate_cli_with_top_k_and_one_line_errors(trained, tmp_path, bach):
    from tests.test_cli import run_script
    primer = tmp_path / "primer.mid"
    write_midi(chorales.grid_to_note_sequence(
        chorales.voice_grid(notearrays.from_note_sequence(bach[1]))[:8]), primer)
    done = run_script("generate", f"--bundle={trained[3]}", f"--output_dir={tmp_path / 'o'}",
                      "--num_outputs=2", "--num_steps=24", f"--primer_midi={primer}",
                      "--top_k=8", "--temperature=0.8", "--seed=3")
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "o").glob("*.mid"))) == 2
    done = run_script("generate", f"--bundle={trained[3]}", f"--output_dir={tmp_path / 'p'}",
                      "--num_steps=24", f"--primer_midi={tmp_path / 'missing.mid'}")
    assert done.returncode == 1 and "missing.mid" in done.stderr
    assert "Traceback" not in done.stderr


def test_performance_config_trains_and_continues_a_primer(tmp_path, bach):
    corpus = tmp_path / "in.tfrecord"
    write_note_sequences(corpus, bach)
    data = tmp_path / "data"
    result = commands.create_dataset("performance_transformer_88", str(corpus), data,
                                     eval_ratio=0.25, progress=False)
    statistics = result.stats.as_dict()["counts"]
    # Five stretched copies of every training piece (0.95 ... 1.05), whole pieces kept.
    assert result.counts["training"] == 5 * statistics["sequences_training"]
    run = tmp_path / "run"
    metrics = commands.train(data, run, config="performance_transformer_88", hparams=TINY,
                             num_training_steps=3, eval_every=3, progress=False)
    assert np.isfinite(metrics["eval_loss"])
    model = musiczoo.load_bundle(run / "performance_transformer_88.mzb")
    primer = tmp_path / "primer.mid"
    write_midi(bach[0], primer)
    short = tmp_path / "short.mid"
    head = notearrays.to_note_sequence(notearrays.from_note_sequence(bach[0]))
    kept = [n for n in head.notes if n.end_time <= 2.0]
    del head.notes[:]
    head.notes.extend(kept)
    write_midi(head, short)
    sequences = model.generate(2, num_steps=80, primer=str(short), seed=2, top_k=30)
    assert all(s.notes for s in sequences)
    # Every sample opens with the primer, note for note: before the primer ends (2.0 s)
    # its notes, and only its notes, sound.
    primer_notes = sorted((n.pitch, round(n.start_time, 2)) for n in read_file(short)[0].notes
                          if n.start_time < 1.9)
    assert len(primer_notes) >= 5
    for sequence in sequences:
        out_notes = sorted((n.pitch, round(n.start_time, 2)) for n in sequence.notes
                           if n.start_time < 1.9)
        assert out_notes == primer_notes
    with pytest.raises(PrimerError, match="context is 96 tokens"):
        model.generate(1, num_steps=2000, primer=str(primer))
