"""The tf input / resolve functions equal the numpy codecs, step by step, inside one compiled
while loop over every length, as generation uses them."""
import numpy as np
import pytest
import tensorflow as tf

from musiczoo.models.events_rnn.tf_inputs import make_input_fn, make_resolve_fn
from musiczoo.pipelines.codecs import (KeyMelodyCodec, LookbackCodec, MelodyOneHotCodec,
                                       MultiDrumCodec, PerformanceCodec)
from musiczoo.pipelines.codecs.drums import DEFAULT_DRUM_TYPE_PITCHES

tf.config.threading.set_intra_op_parallelism_threads(2)
tf.config.threading.set_inter_op_parallelism_threads(2)

T_MAX = 512
BATCH = 4


@pytest.fixture(scope="module")
def chorale_melodies(chorale_paths):
    """Real melody events (48..84) from a few Bach chorales, each <= 512 steps."""
    import note_seq
    from musiczoo.pipelines.extract import melodies, notearrays
    found = []
    for path in chorale_paths[::40][:6]:
        ns = note_seq.musicxml_file_to_sequence_proto(str(path))
        for part in notearrays.split_on_time_changes(notearrays.from_note_sequence(ns)):
            quantized = notearrays.quantize(part, 4)
            for melody in melodies.extract_melodies(quantized, max_steps_truncate=T_MAX):
                found.append(melodies.squash(melody.events, 48, 84, 0)[0])
    assert len(found) >= BATCH
    return found


def melody_batch(codec, melodies, rng):
    """BATCH real melodies as ids, each padded to T_MAX with random ids of the codec's
    event alphabet (past a melody's end they are just more history to read)."""
    rows = []
    for events in melodies[:BATCH]:
        ids = codec.events_to_ids(events)
        rows.append(np.concatenate([ids, rng.integers(0, 38, T_MAX - len(ids))]))
    return np.stack(rows).astype(np.int32)


def random_melody_ids(codec, rng, pitches):
    """Ids with many repeats, octave pairs, NOTE_OFFs, alternations (A B A B) and silence."""
    alphabet = np.array(list(pitches) + [-1, -2, -2, -2])
    events = alphabet[rng.integers(0, len(alphabet), (BATCH, T_MAX))]
    events[:, 40:80] = np.where(np.arange(40) % 4 < 2, pitches[0], pitches[1])  # A A B B ...
    events[:, 100:164] = events[:, 164:228]  # a stretch that repeats 64 steps later
    return np.stack([codec.events_to_ids(row) for row in events]).astype(np.int32)


def run_every_length(codec, history):
    """Every step's input, from one tf.function looping over lengths 1..T with while_loop."""
    input_fn = make_input_fn(codec)

    @tf.function
    def all_steps(history):
        def body(length, outputs):
            return length + 1, outputs.write(length - 1, input_fn(history, length))
        outputs = tf.TensorArray(tf.float32, size=tf.shape(history)[1])
        _, outputs = tf.while_loop(lambda length, _: length <= tf.shape(history)[1], body,
                                   (tf.constant(1), outputs))
        return outputs.stack()  # [T, B, input_size]

    return all_steps(tf.constant(history)).numpy()


def check_inputs(codec, history):
    got = run_every_length(codec, history)
    assert got.shape == (history.shape[1], history.shape[0], codec.input_size)
    for b, row in enumerate(history):
        # inputs_from_ids is causal, so its full-row output gives every prefix's last row.
        want = codec.inputs_from_ids(row)
        mismatch = np.argwhere(got[:, b] != want)
        assert not len(mismatch), f"row {b}: first mismatch (step, feature) {mismatch[0]}"


def check_resolve(codec, history, lengths):
    resolve_fn = tf.function(make_resolve_fn(codec))
    labels = np.arange(codec.num_classes, dtype=np.int32)
    # Plain one-hot codecs have no repeat classes: a label is the id.
    resolve = getattr(codec, "resolve_label", lambda label, previous_ids: label)
    for b, row in enumerate(history):
        for length in lengths:
            got = resolve_fn(labels, np.repeat(row[None], len(labels), 0), tf.constant(length))
            want = [resolve(int(label), row[:length]) for label in labels]
            np.testing.assert_array_equal(got.numpy(), want, err_msg=f"row {b}, length {length}")


def test_melody_one_hot(chorale_melodies):
    codec = MelodyOneHotCodec(48, 84)
    history = melody_batch(codec, chorale_melodies, np.random.default_rng(0))
    check_inputs(codec, history)
    check_resolve(codec, history, [1, 100])


def test_attention_rnn_lookback(chorale_melodies):
    codec = LookbackCodec(MelodyOneHotCodec(48, 84))
    history = melody_batch(codec, chorale_melodies, np.random.default_rng(1))
    check_inputs(codec, history)
    check_inputs(codec, random_melody_ids(codec, np.random.default_rng(2), [60, 72, 62]))
    check_resolve(codec, history, [1, 15, 16, 17, 31, 32, 33, 300])


def test_drum_kit_lookback():
    codec = LookbackCodec(MultiDrumCodec(), lookback_distances=(), binary_counter_bits=6)
    rng = np.random.default_rng(3)
    pitches = [p for kind in DEFAULT_DRUM_TYPE_PITCHES for p in kind] + [0, 127]  # 2 unknown
    events = [[frozenset(rng.choice(pitches, rng.integers(0, 4))) for _ in range(T_MAX)]
              for _ in range(BATCH)]
    history = np.stack([codec.events_to_ids(row) for row in events]).astype(np.int32)
    assert len(np.unique(history)) > 100
    check_inputs(codec, history)
    check_resolve(codec, history, [1, 64])


def test_drum_kit_with_distances_and_one_drum():
    codec = LookbackCodec(MultiDrumCodec(), lookback_distances=(2, 5), binary_counter_bits=3)
    history = np.random.default_rng(4).integers(0, 4, (BATCH, 64)).astype(np.int32)
    check_inputs(codec, history)
    check_resolve(codec, history, [1, 2, 3, 5, 6, 40])
    check_inputs(MultiDrumCodec(), history)


def test_key_melody(chorale_melodies):
    codec = KeyMelodyCodec(48, 84)
    history = melody_batch(codec, chorale_melodies, np.random.default_rng(5))
    check_inputs(codec, history)
    check_inputs(codec, random_melody_ids(codec, np.random.default_rng(6), [60, 72, 62, 55]))
    check_resolve(codec, history, [1, 15, 16, 17, 31, 32, 33, 300])


def test_key_melody_edges():
    """Pitch 0 counts as silence (note_seq's `if current_note:`), odd distances and bits."""
    codec = KeyMelodyCodec(0, 24, lookback_distances=(3, 1), binary_counter_bits=2)
    rng = np.random.default_rng(7)
    history = random_melody_ids(codec, rng, [0, 12, 7, 19])[:, :96]
    history[0, :4] = codec.events_to_ids([-2, -1, -2, 0])  # no note, then pitch 0
    check_inputs(codec, history)
    check_resolve(codec, history, [1, 2, 3, 4, 50])


def test_padding_is_ignored():
    """Garbage (even out-of-range ids) past `length` changes nothing."""
    codec = KeyMelodyCodec(48, 84)
    history = random_melody_ids(codec, np.random.default_rng(8), [60, 64, 67])[:, :40]
    garbage = np.concatenate([history, np.full((BATCH, 24), -7, np.int32)], axis=1)
    clean = make_input_fn(codec)(tf.constant(history), tf.constant(40))
    dirty = make_input_fn(codec)(tf.constant(garbage), tf.constant(40))
    np.testing.assert_array_equal(clean.numpy(), dirty.numpy())
    labels = tf.constant([38, 39, 5, 36], tf.int32)
    np.testing.assert_array_equal(
        make_resolve_fn(codec)(labels, garbage, tf.constant(40)).numpy(),
        make_resolve_fn(codec)(labels, history, tf.constant(40)).numpy())


def test_unsupported_codecs():
    class Custom(MelodyOneHotCodec):
        def inputs_from_ids(self, ids):
            return super().inputs_from_ids(ids) * 2

    with pytest.raises(TypeError, match="Custom"):
        make_input_fn(Custom())
    with pytest.raises(TypeError, match="str"):
        make_input_fn("melody")
    with pytest.raises(TypeError, match="make_resolve_fn"):
        make_resolve_fn(object())
    # Default one-hot codecs are covered whatever their class.
    assert make_input_fn(PerformanceCodec()) is not None
