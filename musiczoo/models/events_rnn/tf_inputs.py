"""TensorFlow twins of the numpy codecs' per-step work, for compiled sampling loops.

Generation runs its whole sampling loop inside one `tf.function`, so the input vector of the
newest event and the resolution of "repeat N steps back" labels must be tf ops. These
functions reproduce, for the last valid position only, exactly what the numpy codecs compute
(`codec.inputs_from_ids(ids)[-1]`, `codec.resolve_label(label, ids)`); the tests check them
row for row, so the codecs stay the single source of truth.

Shapes: `history` int32 [B, T_max] of base event ids (what `codec.events_to_ids` gives),
`length` an int32 scalar tensor (valid events, >= 1, shared by the batch). Positions >= length
may hold anything: they are masked, and replaced by the default id before any gather.
Every feature is recomputed from the whole masked history each step (O(T_max) work), which
keeps the loop state to the history alone.
"""
import numpy as np
import tensorflow as tf

from musiczoo.pipelines.codecs.base import Codec
from musiczoo.pipelines.codecs.key_melody import (
    _NOTE_IN_KEY, NOTES_PER_OCTAVE, STEPS_PER_BAR, KeyMelodyCodec)
from musiczoo.pipelines.codecs.lookback import LookbackCodec


def _is_one_hot(codec):
    # Any codec that keeps Codec's default inputs (one-hot of the id) is supported as is.
    return isinstance(codec, Codec) and type(codec).inputs_from_ids is Codec.inputs_from_ids


def _same_inputs(codec, cls):
    """`codec` is a `cls` whose inputs are still `cls`'s (a subclass could change them)."""
    return (isinstance(codec, cls) and type(codec).inputs_from_ids is cls.inputs_from_ids
            and getattr(type(codec), "inputs_from_events", None)
            is getattr(cls, "inputs_from_events", None))


def _check_distances(codec, distances):
    # A distance of 0 would make the lookback input read the *next* event, which the numpy
    # codec cannot do either (it indexes past the end).
    if any(d < 1 for d in distances):
        raise ValueError(f"{codec!r}: lookback distances must be >= 1 for generation")


def _unsupported(codec, what):
    return TypeError(f"{what} has no TensorFlow version for {type(codec).__name__} ({codec!r});"
                     " supported: one-hot codecs (MelodyOneHotCodec, MultiDrumCodec, ...), "
                     "LookbackCodec and KeyMelodyCodec")


class _Prefix:
    """The valid prefix of a history batch, with the masked helpers every feature needs."""

    def __init__(self, history, length, default_id):
        history = tf.convert_to_tensor(history)
        self.length = tf.cast(tf.convert_to_tensor(length), tf.int32)
        self.positions = tf.range(tf.shape(history)[1], dtype=tf.int32)
        self.valid = self.positions[None, :] < self.length  # [1, T]
        # Padding may be garbage (even out of range): give it a harmless id before gathers.
        self.ids = tf.where(self.valid, tf.cast(history, tf.int32), default_id)
        self.default_id = default_id

    def at(self, index):
        """ids[:, index] for a per-row index [B] or a scalar; the default id where < 0."""
        index = tf.broadcast_to(index, tf.shape(self.ids)[:1])
        found = tf.gather(self.ids, tf.maximum(index, 0), batch_dims=1)
        return tf.where(index >= 0, found, self.default_id)

    def last_index(self, mask):
        """Per row, the latest valid position where `mask` [B, T] holds (-1 if none)."""
        hits = tf.logical_and(mask, self.valid)
        return tf.reduce_max(tf.where(hits, self.positions[None, :], -1), axis=1)

    def current(self):
        return self.at(self.length - 1)

    def repeat_flags(self, distances):
        """Per distance, whether the last event equals the one `distance` steps before it."""
        current = self.current()
        flags = []
        for distance in distances:
            source = self.length - 1 - distance
            flags.append(tf.logical_and(source >= 0, tf.equal(current, self.at(source))))
        return flags

    def counter(self, bits):
        """Magenta's binary counter of `length` (the *next* step's number): +1 / -1 per bit."""
        shifted = tf.bitwise.right_shift(self.length, tf.range(bits, dtype=tf.int32))
        row = tf.where(tf.equal(tf.bitwise.bitwise_and(shifted, 1), 1), 1.0, -1.0)
        return tf.tile(row[None, :], [tf.shape(self.ids)[0], 1])


def _column(flags):
    return tf.cast(flags, tf.float32)[:, None]


def one_hot_input_fn(codec):
    """The one-hot event input of `codec`'s classes (whatever else its inputs hold)."""
    def fn(history, length):
        prefix = _Prefix(history, length, codec.default_id if hasattr(codec, "default_id") else 0)
        return tf.one_hot(prefix.current(), codec.num_classes, dtype=tf.float32)
    return fn


def _table_fn(codec):
    table = tf.constant(codec.input_table())

    def fn(history, length):
        prefix = _Prefix(history, length, codec.default_id)
        return tf.gather(table, prefix.current())
    return fn


def _lookback_fn(codec):
    distances, base_classes = codec.lookback_distances, codec.base.num_classes
    _check_distances(codec, distances)

    def fn(history, length):
        prefix = _Prefix(history, length, codec.default_id)
        parts = [tf.one_hot(prefix.current(), base_classes, dtype=tf.float32)]
        # The event that *followed* the one `distance` steps back (numpy: p - distance + 1).
        for distance in distances:
            parts.append(tf.one_hot(prefix.at(prefix.length - distance), base_classes,
                                    dtype=tf.float32))
        parts.append(prefix.counter(codec.binary_counter_bits))
        parts += [_column(flag) for flag in prefix.repeat_flags(distances)]
        return tf.concat(parts, axis=1)
    return fn


def _best_keys(counts):
    """Keys tying for the most fitting notes, as float 0/1 (all keys when counts are 0)."""
    return tf.cast(tf.equal(counts, tf.reduce_max(counts, axis=1, keepdims=True)), tf.float32)


def _key_melody_fn(codec):
    _check_distances(codec, codec.lookback_distances)
    note_range, min_note = codec.note_range, codec.min_note
    # Event-id tables: keys each id's pitch class belongs to (zero rows for NO_EVENT and
    # NOTE_OFF, which count towards no key).
    note_ids = np.arange(note_range)
    keys_of_id = np.zeros((note_range + 2, NOTES_PER_OCTAVE), np.int32)
    keys_of_id[note_ids] = _NOTE_IN_KEY[(note_ids + min_note) % NOTES_PER_OCTAVE]
    keys_of_id = tf.constant(keys_of_id)
    no_event, note_off = note_range, note_range + 1

    def fn(history, length):
        prefix = _Prefix(history, length, codec.default_id)
        ids = prefix.ids
        is_note = ids < note_range  # pitches are ids 0..note_range-1, in pitch order

        # Sounding note: the latest event that is not NO_EVENT, if it is a pitch. note_seq
        # tests `if current_note:`, so pitch 0 (id 0 when min_note == 0) counts as silence.
        sounding = prefix.at(prefix.last_index(tf.not_equal(ids, no_event)))
        playing = tf.logical_and(sounding < note_range, sounding + min_note > 0)
        pitch = tf.one_hot(tf.where(playing, sounding, -1), note_range, dtype=tf.float32)

        # Attack survives NOTE_OFF (note_seq clears it on NO_EVENT only).
        changed = prefix.last_index(tf.not_equal(ids, note_off))
        attack = tf.logical_and(changed >= 0, prefix.at(changed) < note_range)

        # The last three distinct pitches: a = the latest note, b = the latest note unlike
        # a, c = the latest unlike both. This equals the codec's run/streak bookkeeping.
        last_a = prefix.last_index(is_note)
        a = prefix.at(last_a)
        unlike_a = tf.logical_and(is_note, tf.not_equal(ids, a[:, None]))
        last_b = prefix.last_index(unlike_a)
        b = prefix.at(last_b)
        last_c = prefix.last_index(tf.logical_and(unlike_a, tf.not_equal(ids, b[:, None])))
        c = prefix.at(last_c)
        # Direction from b to a; ids order like pitches, and a != b whenever b exists.
        direction = tf.where(last_b >= 0, tf.where(a > b, 1.0, -1.0), 0.0)

        steps = prefix.length  # bar start and counter describe the *next* step
        bar = tf.fill(tf.shape(a), tf.equal(steps % STEPS_PER_BAR, 0))

        # Non-notes (and masked padding, now the default NO_EVENT id) have zero key rows.
        all_keys = tf.reduce_sum(tf.gather(keys_of_id, ids), axis=1)
        recent_keys = tf.zeros_like(all_keys)
        for index, event in ((last_a, a), (last_b, b), (last_c, c)):
            recent_keys += tf.where((index >= 0)[:, None], tf.gather(keys_of_id, event), 0)

        parts = [pitch, _column(playing), _column(tf.logical_not(playing)), _column(attack),
                 direction[:, None]]
        parts += [_column(flag) for flag in prefix.repeat_flags(codec.lookback_distances)]
        parts += [prefix.counter(codec.binary_counter_bits), _column(bar),
                  _best_keys(all_keys), _best_keys(recent_keys)]
        return tf.concat(parts, axis=1)
    return fn


def make_input_fn(codec):
    """`fn(history [B, T_max] int32, length int32 scalar) -> float32 [B, input_size]`, equal to
    `codec.inputs_from_ids(history[b, :length])[length - 1]` for every row b."""
    if hasattr(codec, "input_table"):  # inputs a function of the current event alone
        return _table_fn(codec)
    if _same_inputs(codec, KeyMelodyCodec):
        return _key_melody_fn(codec)
    if _same_inputs(codec, LookbackCodec):
        return _lookback_fn(codec)
    if _is_one_hot(codec):
        return one_hot_input_fn(codec)
    raise _unsupported(codec, "make_input_fn")


def _resolve_repeats_fn(distances, first_repeat_class, default_id):
    def fn(labels, history, length):
        prefix = _Prefix(history, length, default_id)
        labels = tf.cast(labels, tf.int32)
        ids = labels
        for index, distance in enumerate(distances):
            # previous_ids[-distance], or the default id while the history is too short
            # (prefix.at gives the default for negative positions).
            looked = prefix.at(prefix.length - distance)
            ids = tf.where(tf.equal(labels, first_repeat_class + index), looked, ids)
        return ids
    return fn


def make_resolve_fn(codec):
    """`fn(labels [B] int32, history [B, T_max] int32, length) -> ids [B] int32`: sampled
    classes as event ids, as `codec.resolve_label(label, history[b, :length])` gives them."""
    if isinstance(codec, KeyMelodyCodec) and (
            type(codec).resolve_label is KeyMelodyCodec.resolve_label):
        _check_distances(codec, codec.lookback_distances)
        return _resolve_repeats_fn(codec.lookback_distances, codec.note_range + 2,
                                   codec.default_id)
    if isinstance(codec, LookbackCodec) and (
            type(codec).resolve_label is LookbackCodec.resolve_label):
        _check_distances(codec, codec.lookback_distances)
        return _resolve_repeats_fn(codec.lookback_distances, codec.base.num_classes,
                                   codec.default_id)
    if isinstance(codec, Codec) and not hasattr(codec, "resolve_label"):
        # Without repeat classes a label already is the event id.
        return lambda labels, history, length: tf.cast(labels, tf.int32)
    raise _unsupported(codec, "make_resolve_fn")
