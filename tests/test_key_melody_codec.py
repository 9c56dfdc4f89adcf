"""KeyMelodyCodec must reproduce note_seq's KeyMelodyEncoderDecoder bit for bit."""
import glob
import os

import numpy as np
import pytest

note_seq = pytest.importorskip("note_seq")
from note_seq import melody_encoder_decoder  # noqa: E402

from musiczoo.pipelines.codecs.base import codec_from_config  # noqa: E402
from musiczoo.pipelines.codecs.key_melody import KeyMelodyCodec  # noqa: E402
from musiczoo.pipelines.extract import melodies, notearrays  # noqa: E402

BACH = os.path.join(os.path.dirname(note_seq.__file__), "..", "music21", "corpus", "bach")


def reference(codec):
    return melody_encoder_decoder.KeyMelodyEncoderDecoder(
        codec.min_note, codec.max_note, list(codec.lookback_distances), codec.binary_counter_bits)


def assert_matches_note_seq(codec, events, ref=None):
    ref = ref or reference(codec)
    events = [int(e) for e in events]
    want_inputs, want_labels = ref.encode(events)
    inputs, labels = codec.encode(np.array(events, np.int64))
    want_inputs = np.array(want_inputs, np.float32).reshape(-1, codec.input_size)
    assert inputs.dtype == np.float32 and labels.dtype == np.int64
    assert inputs.shape == (max(len(events) - 1, 0), codec.input_size)
    mismatch = np.argwhere(inputs != want_inputs)
    assert not len(mismatch), f"(position, feature) mismatches: {mismatch[:5].tolist()}"
    np.testing.assert_array_equal(labels, np.array(want_labels, np.int64))


def chorale_melodies(count=20):
    files = sorted(glob.glob(os.path.join(BACH, "*.mxl")))[:count]
    if not files:
        pytest.skip("music21's Bach corpus is not installed")
    found = []
    for path in files:
        ns = note_seq.musicxml_file_to_sequence_proto(path)
        for part in notearrays.split_on_time_changes(notearrays.from_note_sequence(ns)):
            quantized = notearrays.quantize(part, 4)
            for melody in melodies.extract_melodies(quantized, max_steps_truncate=512):
                events, _ = melodies.squash(melody.events, 48, 84, 0)
                found.append(events)
    return found


def test_attention_rnn_sizes():
    codec = KeyMelodyCodec()
    assert (codec.input_size, codec.num_classes) == (74, 40)
    assert (codec.default_event, codec.default_id) == (-2, 36)


def test_matches_note_seq_on_bach_chorales():
    codec = KeyMelodyCodec()
    ref = reference(codec)
    found = chorale_melodies()
    assert len(found) >= 20
    for events in found:
        assert_matches_note_seq(codec, events, ref)


EDGE_CASES = {
    "all_no_event": [-2] * 40,
    "single_event": [60],
    "two_events": [-2, 60],
    "empty": [],
    "note_off_first": [-1, -1, 60, -2, -1, -2, 62, -1],
    "note_off_only": [-1, -2, -1, -1, -2],
    "repeated_notes": [60, 60, 60, -2, 60, -1, 60, 60] * 6,
    "range_edges": [48, -2, 83, -1, 48, 83, 83, 48, -2, -2, -1, 83],
    "ascending_run": list(range(48, 84)) + [-1, -2],
    "descending_run": list(range(83, 47, -1)) + [-2] * 3,
    "up_then_repeat_then_down": [60, 64, 64, -2, 64, 62, -2, 62, 67],
    "alternating_pairs": [60, 62, 60, 62, 60, 62, 65, 62, 65, 62, 60, 72, 60, 72],
    "octaves_share_pitch_class": [60, 72, 60, 48, 72, 61],
    "attack_survives_note_off": [60, -1, -1, -2, 62, -1, 64, -2, -1],
    "shorter_than_lookbacks": [60, -2, 62, -2, -2, 64, -1, -2, -2, 60],
    "bar_repeats": ([60, -2, 62, -2, 64, -2, -1, -2] * 2 + [67] * 16) * 3,
    "two_bar_repeats": [60, 62, 64, 65, 67, 69, 71, 72] * 4 + [-2] * 32 + [60] * 33,
}


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_matches_note_seq_on_edge_cases(name):
    assert_matches_note_seq(KeyMelodyCodec(), EDGE_CASES[name])


@pytest.mark.parametrize("config", [
    dict(min_note=0, max_note=128),                  # pitch 0 reads as silence in note_seq
    dict(min_note=0, max_note=12, lookback_distances=(3, 5), binary_counter_bits=3),
    dict(min_note=60, max_note=72, lookback_distances=(5, 2), binary_counter_bits=0),
    dict(min_note=48, max_note=84, lookback_distances=(1,), binary_counter_bits=2),
])
def test_matches_note_seq_on_random_melodies(config):
    codec = KeyMelodyCodec(**config)
    ref = reference(codec)
    rng = np.random.default_rng(len(str(config)))
    for _ in range(60):
        # Few distinct pitches and skewed weights make repeats, runs and lookback hits common.
        pitches = rng.choice(np.arange(codec.min_note, codec.max_note), int(rng.integers(1, 6)))
        alphabet = np.concatenate([pitches, [-1, -2]])
        weights = rng.dirichlet(np.full(len(alphabet), 0.5))
        assert_matches_note_seq(codec, rng.choice(alphabet, int(rng.integers(0, 70)), p=weights),
                                ref)


def test_resolve_label_matches_class_index_to_event():
    codec = KeyMelodyCodec()
    ref = reference(codec)
    events = EDGE_CASES["two_bar_repeats"] + EDGE_CASES["note_off_first"]
    ids = codec.events_to_ids(events)
    labels = codec.labels_from_ids(ids)
    for position, label in enumerate(labels):
        resolved = codec.resolve_label(int(label), ids[:position + 1])
        assert resolved == ids[position + 1]
        assert codec.ids_to_events([resolved])[0] == ref.class_index_to_event(
            int(label), events[:position + 1])
    # Repeats reaching before the melody start fall back to NO_EVENT.
    assert codec.resolve_label(39, ids[:31]) == codec.default_id
    assert codec.resolve_label(38, ids[:16]) == ids[0]


def test_input_for_next_is_the_last_position():
    codec = KeyMelodyCodec()
    ref = reference(codec)
    events = EDGE_CASES["up_then_repeat_then_down"]
    for end in range(1, len(events) + 1):
        np.testing.assert_array_equal(
            codec.input_for_next(events[:end]),
            np.array(ref.events_to_input(events[:end], end - 1), np.float32))
    with pytest.raises(ValueError, match="at least one event"):
        codec.input_for_next([])


def test_inputs_from_ids_equals_inputs_from_events():
    codec = KeyMelodyCodec()
    events = EDGE_CASES["attack_survives_note_off"]
    np.testing.assert_array_equal(codec.inputs_from_ids(codec.events_to_ids(events)),
                                  codec.inputs_from_events(events))


def test_ids_round_trip_and_numbering():
    codec = KeyMelodyCodec()
    events = np.array([-2, -1, 48, 60, 83], np.int32)
    ids = codec.events_to_ids(events)
    np.testing.assert_array_equal(ids, [36, 37, 0, 12, 35])
    assert ids.dtype == np.int64
    np.testing.assert_array_equal(codec.ids_to_events(ids), events)
    all_ids = np.arange(codec.num_classes - len(codec.lookback_distances))
    np.testing.assert_array_equal(codec.events_to_ids(codec.ids_to_events(all_ids)), all_ids)


@pytest.mark.parametrize("bad", [47, 84, -3, 127])
def test_out_of_range_events_raise(bad):
    with pytest.raises(ValueError, match=f"melody event {bad} is outside"):
        KeyMelodyCodec().encode([60, bad, 62])


@pytest.mark.parametrize("bad", [-1, 38, 39])
def test_repeat_or_unknown_ids_raise(bad):
    with pytest.raises(ValueError, match="resolve_label"):
        KeyMelodyCodec().ids_to_events([0, bad])


@pytest.mark.parametrize("kwargs", [dict(min_note=84, max_note=48), dict(max_note=129),
                                    dict(lookback_distances=(0, 16)),
                                    dict(binary_counter_bits=-1)])
def test_bad_constructor_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        KeyMelodyCodec(**kwargs)


def test_config_round_trip():
    codec = KeyMelodyCodec(min_note=36, max_note=96, lookback_distances=(8, 16, 32),
                           binary_counter_bits=5)
    config = codec.get_config()
    assert config == {"class": "KeyMelodyCodec", "min_note": 36, "max_note": 96,
                      "lookback_distances": [8, 16, 32], "binary_counter_bits": 5}
    rebuilt = codec_from_config(config)
    assert rebuilt == codec and rebuilt.get_config() == config
    assert (rebuilt.input_size, rebuilt.num_classes) == (codec.input_size, codec.num_classes)
    assert "KeyMelodyCodec(min_note=36" in repr(codec)
