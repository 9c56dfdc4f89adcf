"""create_dataset end to end: real files in, TFRecords out, bad files counted, tf.data batches."""
import json
import shutil

import numpy as np
import pretty_midi
import pytest

from musiczoo import registry
from musiczoo.pipelines.datasets import build as dataset, tfrecord
from musiczoo.pipelines.extract import transforms
from musiczoo.pipelines.readers.files import iter_music_files, read_file, read_files
from musiczoo.pipelines.stats import Stats


def write_drum_midi(path, bars=10, qpm=120.0):
    """A real GM drum groove: kick on 1 and 3, snare on 2 and 4, closed hat on eighths."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    kit = pretty_midi.Instrument(program=0, is_drum=True)
    beat = 60.0 / qpm
    for bar in range(bars):
        for eighth in range(8):
            t = (bar * 4 + eighth / 2) * beat
            kit.notes.append(pretty_midi.Note(80, 42, t, t + 0.05))
            if eighth in (0, 4):
                kit.notes.append(pretty_midi.Note(100, 36, t, t + 0.05))
            if eighth in (2, 6):
                kit.notes.append(pretty_midi.Note(100, 38, t, t + 0.05))
    midi.instruments.append(kit)
    midi.write(str(path))


def fill_music_folder(folder, chorale_paths):
    """12 chorales, a drum groove and three files that are not MIDI, into `folder`."""
    for path in chorale_paths[:12]:
        shutil.copy(path, folder / path.name)
    (folder / "empty.mid").write_bytes(b"")
    (folder / "corrupt.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\xff\xff garbage")
    (folder / "not_midi.mid").write_text("this is a text file, not MIDI\n")
    write_drum_midi(folder / "drums.mid")
    return folder


@pytest.fixture
def music_folder(tmp_path, chorale_paths):
    folder = tmp_path / "music"
    folder.mkdir()
    return fill_music_folder(folder, chorale_paths)


def build(config_name, folder, out, eval_ratio=0.25):
    _, config = registry.find_config(config_name)
    stats = Stats()
    sequences = read_files(iter_music_files(folder), stats, progress=False, root_dir=folder)
    return dataset.create_dataset(config.data_spec(), sequences, out, eval_ratio=eval_ratio,
                                  progress=False, config_name=config_name, stats=stats), config


def test_melody_dataset_from_real_files(music_folder, tmp_path):
    result, config = build("basic_rnn", music_folder, tmp_path / "out")
    stats = result.stats
    # Every bad file is counted under its reason; the good ones all went through.
    assert stats["files_failed_empty_file"] == 1
    assert stats["files_failed_corrupt_midi"] == 1
    assert stats["files_failed_not_midi"] == 1
    assert stats["files_read"] == 13 and stats["sequences_read"] == 13
    assert stats["sequences_training"] + stats["sequences_eval"] == 13
    total = result.counts["training"] + result.counts["eval"]
    assert total == stats["melodies_extracted"] > 5
    codec = config.codec()
    examples = list(tfrecord.read_examples(result.paths["training"], codec.input_size))
    assert len(examples) == result.counts["training"]
    for inputs, labels in examples:
        assert inputs.shape == (len(labels), 38)
        np.testing.assert_array_equal(inputs.sum(axis=1), 1.0)    # one-hot
        np.testing.assert_array_equal(inputs[1:].argmax(axis=1), labels[:-1])  # teacher forcing
    info = json.loads(result.info_path.read_text())
    assert info["config"] == "basic_rnn" and info["input_size"] == 38
    assert info["examples"] == result.counts


def test_drum_dataset_and_melody_pipeline_ignores_drums(music_folder, tmp_path):
    result, config = build("drum_kit", music_folder, tmp_path / "drums", eval_ratio=0.0)
    assert result.counts == {"training": 1, "eval": 0}   # only drums.mid has drums
    ((inputs, labels),) = list(tfrecord.read_examples(result.paths["training"],
                                                      config.codec().input_size))
    # The track ends with its last hit (step 158 of 10 bars): 159 events, 158 labels;
    # label i is the event at step i + 1.
    assert len(labels) == 158
    # Drum types are bits: kick 0, snare 1, closed hat 2.
    assert labels[15] == 0b101      # step 16: kick + hat (next downbeat)
    assert labels[1] == 0b100       # step 2: hat alone
    assert labels[3] == 0b110       # step 4: snare + hat
    assert labels[0] == 0           # step 1: silence


def test_input_fn_pads_and_masks(music_folder, tmp_path):
    result, config = build("lookback_rnn", music_folder, tmp_path / "lb", eval_ratio=0.0)
    codec = config.codec()
    batches = list(tfrecord.make_input_fn(result.paths["training"], codec.input_size, 4,
                                          shuffle=False))
    seen = 0
    for (inputs, lengths), labels in batches:
        assert inputs.shape[0] == labels.shape[0] == lengths.shape[0]
        assert inputs.shape[2] == codec.input_size == 121
        assert int(lengths.numpy().max()) == inputs.shape[1]
        seen += inputs.shape[0]
    assert seen == result.counts["training"]
    bucketed = list(tfrecord.make_input_fn(result.paths["training"], codec.input_size, 4,
                                           shuffle=False, bucket_boundaries=[150, 250]))
    assert sum(int(b[0][0].shape[0]) for b in bucketed) == seen


def test_eval_split_is_deterministic_and_by_id():
    ids = [f"/id/musicxml/bach/{i}" for i in range(2000)]
    first = [transforms.is_eval(i, 0.1) for i in ids]
    assert first == [transforms.is_eval(i, 0.1) for i in ids]
    assert 0.07 < sum(first) / len(ids) < 0.13
    assert not any(transforms.is_eval(i, 0.0) for i in ids)


def test_training_augmentation_only_on_training_side(music_folder, tmp_path):
    _, config = registry.find_config("basic_rnn")
    spec = config.data_spec()
    augmented = dataset.DataSpec(spec.extractor, spec.codec,
                                 train_transforms=(transforms.transpose_augment([-2, 0, 2]),))
    sequences = list(read_files(iter_music_files(music_folder), progress=False))
    plain = dataset.create_dataset(spec, sequences, tmp_path / "plain", eval_ratio=0.3,
                                   progress=False)
    aug = dataset.create_dataset(augmented, sequences, tmp_path / "aug", eval_ratio=0.3,
                                 progress=False)
    assert aug.counts["eval"] == plain.counts["eval"]
    # Squashing to C moves transposed copies back, so each copy gives the same melodies.
    assert aug.counts["training"] == 3 * plain.counts["training"]


def write_meter_change_midi(path):
    """A melody of 10 bars of 4/4 at 120 qpm, then 10 bars of 3/4 at 90 qpm, with a
    zero-length note; both halves are long enough to be melodies on their own."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    midi.time_signature_changes = [pretty_midi.TimeSignature(4, 4, 0.0),
                                   pretty_midi.TimeSignature(3, 4, 20.0)]
    # pretty_midi has no tempo-change API for writing; set the tick scale directly.
    first_tick = midi.time_to_tick(20.0)
    midi._tick_scales = [(0, 60.0 / (120.0 * midi.resolution)),
                         (first_tick, 60.0 / (90.0 * midi.resolution))]
    midi._update_tick_to_time(midi.time_to_tick(60.0) + 1)
    piano = pretty_midi.Instrument(program=0)
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    for i in range(80):                      # 10 bars of eighths at 120 qpm
        t = i * 0.25
        piano.notes.append(pretty_midi.Note(90, scale[i % 8], t, t + 0.25))
    for i in range(60):                      # 10 bars of 3/4 in eighths at 90 qpm
        t = 20.0 + i / 3.0
        piano.notes.append(pretty_midi.Note(90, scale[(3 * i) % 8], t, t + 1 / 3.0))
    piano.notes.append(pretty_midi.Note(90, 70, 5.0, 5.0))   # zero-length
    midi.instruments.append(piano)
    midi.write(str(path))


def test_tempo_and_meter_changes_split_into_two_melodies(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    write_meter_change_midi(folder / "changes.mid")
    sequence = read_file(folder / "changes.mid")[0]
    assert [round(t.qpm) for t in sequence.tempos] == [120, 90]
    assert len(sequence.notes) == 140     # the MIDI reader drops the zero-length note
    result, _ = build("basic_rnn", folder, tmp_path / "out", eval_ratio=0.0)
    assert result.stats["sequences_split_on_time_changes"] == 1
    assert result.counts["training"] == 2
    lengths = sorted(len(labels) for _, labels in tfrecord.read_examples(
        result.paths["training"], 38))
    assert lengths == [10 * 12 - 1, 10 * 16 - 1]   # 3/4 bars are 12 steps, 4/4 bars 16


def test_several_inputs_joined_by_commas(music_folder, tmp_path):
    from musiczoo import commands
    other = tmp_path / "other"
    other.mkdir()
    write_drum_midi(other / "more_drums.mid", bars=9)
    result = commands.create_dataset("drum_kit", f"{music_folder},{other}", tmp_path / "out",
                                     eval_ratio=0.0, progress=False)
    assert result.counts["training"] == 2
    assert result.stats["files_failed_not_midi"] == 1 and result.stats["files_read"] == 14
