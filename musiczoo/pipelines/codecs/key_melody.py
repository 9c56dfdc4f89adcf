"""Key-aware melody encoding (Magenta's KeyMelodyEncoderDecoder, used by attention_rnn).

note_seq builds each input by re-scanning the whole prefix (current note, attack, direction,
last three distinct notes, key histograms), so one melody costs O(T^2). Here every feature is
a running quantity: cumulative maxima find the last relevant event, cumulative sums give the
key histograms, and a streak count finds the third most recent distinct note. One melody
costs O(T) numpy work and gives bit-identical inputs and labels.

Input layout (min_note=48, max_note=84, 2 lookbacks, 7 counter bits -> 74 values):
  [0, 36)  pitch of the sounding note        36  a note sounds      37  silence
  38       the latest note-on was not followed by NO_EVENT (note_seq's "attack" flag)
  39       melodic direction: +1 up, -1 down, 0 before the second distinct pitch
  40, 41   the current event equals the one 16 / 32 steps back
  42..48   binary counter of the *next* step (+1 / -1)
  49       the next step starts a 16-step bar
  50..61   major keys that fit the most notes so far
  62..73   major keys that fit the last three distinct pitches
Classes: [0, 36) pitches, 36 NO_EVENT, 37 NOTE_OFF, 38 / 39 repeat 16 / 32 steps back.
"""
import numpy as np

from musiczoo.pipelines.codecs.base import Codec, register_codec
from musiczoo.pipelines.codecs.lookback import lookback_labels, resolve_repeat_label

NO_EVENT = -2
NOTE_OFF = -1
NOTES_PER_OCTAVE = 12
# note_seq hard-codes 16 steps per bar for the bar-start bit, whatever the meter.
STEPS_PER_BAR = 16
_MAJOR_SCALE = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], bool)
# _NOTE_IN_KEY[pitch_class, key] = 1 when the pitch class belongs to that major key.
_NOTE_IN_KEY = np.array([[_MAJOR_SCALE[(note - key) % NOTES_PER_OCTAVE]
                          for key in range(NOTES_PER_OCTAVE)]
                         for note in range(NOTES_PER_OCTAVE)], np.int64)


def _last_index_where(mask):
    """For every position, the index of the latest True at or before it (-1 if none)."""
    positions = np.where(mask, np.arange(len(mask)), -1)
    return np.maximum.accumulate(positions) if len(mask) else positions


def _best_keys(pitch_class_counts):
    """Marks every key that ties for the most fitting notes (all keys when there are none)."""
    key_counts = pitch_class_counts @ _NOTE_IN_KEY
    return (key_counts == key_counts.max(axis=1, keepdims=True)).astype(np.float32)


def _pitch_class_one_hot(pitches):
    return np.eye(NOTES_PER_OCTAVE, dtype=np.int64)[np.asarray(pitches) % NOTES_PER_OCTAVE]


@register_codec
class KeyMelodyCodec(Codec):
    """Melody events (pitch >= 0 note on, -1 NOTE_OFF, -2 NO_EVENT) with key features."""

    def __init__(self, min_note=48, max_note=84, lookback_distances=(16, 32),
                 binary_counter_bits=7):
        if not 0 <= min_note < max_note <= 128:
            raise ValueError(f"need 0 <= min_note < max_note <= 128, got {min_note}, {max_note}")
        if any(int(d) < 1 for d in lookback_distances):
            raise ValueError(f"lookback distances must be positive, got {lookback_distances}")
        if binary_counter_bits < 0:
            raise ValueError(f"binary_counter_bits must be >= 0, got {binary_counter_bits}")
        self.min_note, self.max_note = int(min_note), int(max_note)
        self.lookback_distances = tuple(int(d) for d in lookback_distances)
        self.binary_counter_bits = int(binary_counter_bits)
        self.note_range = self.max_note - self.min_note
        lookbacks = len(self.lookback_distances)
        self.num_classes = self.note_range + 2 + lookbacks
        self.input_size = (self.note_range + 2 + 1 + 1 + lookbacks + self.binary_counter_bits
                           + 1 + 2 * NOTES_PER_OCTAVE)
        self.default_event = NO_EVENT
        self.default_id = self.note_range  # NO_EVENT's class

    # -- events <-> ids ---------------------------------------------------------------------

    def _check_events(self, events):
        events = np.asarray(events, np.int64).reshape(-1)
        bad = (events < NO_EVENT) | ((events >= 0) & (events < self.min_note)) | (
            events >= self.max_note)
        if bad.any():
            value = int(events[bad][0])
            raise ValueError(f"melody event {value} is outside this codec's range: pitches "
                             f"{self.min_note}..{self.max_note - 1}, -1 (note off), -2 (no event)")
        return events

    def events_to_ids(self, events):
        events = self._check_events(events)
        return np.where(events == NO_EVENT, self.note_range,
                        np.where(events == NOTE_OFF, self.note_range + 1,
                                 events - self.min_note))

    def ids_to_events(self, ids):
        """Non-repeat ids only (turn repeat labels into ids with `resolve_label` first)."""
        ids = np.asarray(ids, np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.note_range + 2):
            raise ValueError(f"event ids must lie in [0, {self.note_range + 2}); repeat classes "
                             f"{self.note_range + 2}.. need resolve_label first")
        return np.where(ids == self.note_range, NO_EVENT,
                        np.where(ids == self.note_range + 1, NOTE_OFF,
                                 ids + self.min_note)).astype(np.int32)

    # -- model inputs -----------------------------------------------------------------------

    def inputs_from_events(self, events):
        """Input vector of every position: float32 [T, input_size]."""
        events = self._check_events(events)
        length = len(events)
        position = np.arange(length)
        is_note = events >= 0
        parts = []

        # A note sounds from its note-on until a NOTE_OFF (NO_EVENT keeps it going).
        last_sound = _last_index_where(events != NO_EVENT)
        sounding = np.where(last_sound >= 0, events[np.maximum(last_sound, 0)], -1)
        # note_seq tests `if current_note:`, so pitch 0 (possible when min_note=0) counts
        # as silence.
        playing = sounding > 0
        pitch = np.zeros((length, self.note_range), np.float32)
        pitch[position[playing], sounding[playing] - self.min_note] = 1.0
        parts += [pitch, playing[:, None], ~playing[:, None]]

        # note_seq clears the attack flag on NO_EVENT only, so it survives a NOTE_OFF.
        last_change = _last_index_where(events != NOTE_OFF)
        attack = (last_change >= 0) & (events[np.maximum(last_change, 0)] >= 0)
        parts.append(attack[:, None])

        # Note-ons collapsed into runs of equal pitch: repeating a pitch changes neither the
        # direction nor the set of recent distinct pitches.
        pitches = events[is_note]
        new_run = np.ones(len(pitches), bool)
        new_run[1:] = pitches[1:] != pitches[:-1]
        runs = pitches[new_run]
        run_of_note = np.cumsum(new_run) - 1
        notes_so_far = np.cumsum(is_note)
        current_run = np.where(notes_so_far > 0,
                               run_of_note[np.maximum(notes_so_far - 1, 0)] if len(runs) else 0,
                               -1)
        run_index = np.arange(len(runs))

        # Consecutive runs always differ, so the direction is defined from the second run on.
        direction = np.zeros(len(runs), np.float32)
        direction[1:] = np.where(runs[1:] > runs[:-1], 1.0, -1.0)
        parts.append(np.where(current_run >= 0, direction[np.maximum(current_run, 0)]
                              if len(runs) else 0.0, 0.0)[:, None])

        for distance in self.lookback_distances:
            source = position - distance
            parts.append(((source >= 0) & (events == events[np.maximum(source, 0)]))[:, None])

        steps = position + 1  # the counter describes the *next* step
        bits = (steps[:, None] >> np.arange(self.binary_counter_bits)[None, :]) & 1
        parts.append(np.where(bits == 1, 1.0, -1.0))
        parts.append((steps % STEPS_PER_BAR == 0)[:, None])

        # Keys of everything played so far.
        note_classes = _pitch_class_one_hot(events) * is_note[:, None]
        parts.append(_best_keys(np.cumsum(note_classes, axis=0)))

        # Keys of the last three distinct pitches: the current run, the one before it, and
        # the latest earlier run that is neither. Runs alternating between the two newest
        # pitches (A B A B ...) are skipped by counting how long runs[k] == runs[k - 2] holds.
        same_as_two_back = np.zeros(len(runs), bool)
        same_as_two_back[2:] = runs[2:] == runs[:-2]
        streak = run_index - _last_index_where(~same_as_two_back)
        third = run_index - 2 - streak
        recent = _pitch_class_one_hot(runs)
        recent[1:] += _pitch_class_one_hot(runs[:-1])
        has_third = third >= 0
        recent[has_third] += _pitch_class_one_hot(runs[third[has_third]])
        recent_at = np.zeros((length, NOTES_PER_OCTAVE), np.int64)
        recent_at[current_run >= 0] = recent[current_run[current_run >= 0]]
        parts.append(_best_keys(recent_at))

        inputs = np.concatenate([np.asarray(p, np.float32) for p in parts], axis=1)
        assert inputs.shape[1] == self.input_size
        return inputs

    def inputs_from_ids(self, ids):
        return self.inputs_from_events(self.ids_to_events(ids))

    def input_for_next(self, events_so_far):
        """Input for the last event of a melody being generated: float32 [input_size]."""
        if len(events_so_far) == 0:
            raise ValueError("input_for_next needs at least one event")
        return self.inputs_from_events(events_so_far)[-1]

    # -- labels -----------------------------------------------------------------------------

    def labels_from_ids(self, ids):
        # Non-repeat ids already equal note_seq's labels (pitch, NO_EVENT, NOTE_OFF).
        return lookback_labels(ids, self.lookback_distances, self.note_range + 2,
                               self.default_id)

    def resolve_label(self, label, previous_ids):
        """Turns a sampled label into an event id given the ids generated so far."""
        return resolve_repeat_label(label, previous_ids, self.lookback_distances,
                                    self.note_range + 2, self.default_id)

    def get_config(self):
        return {"class": type(self).__name__, "min_note": self.min_note,
                "max_note": self.max_note, "lookback_distances": list(self.lookback_distances),
                "binary_counter_bits": self.binary_counter_bits}
