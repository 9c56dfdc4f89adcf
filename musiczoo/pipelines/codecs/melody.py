"""Melody events <-> classes, as note_seq's MelodyOneHotEncoding numbers them."""
import numpy as np

from musiczoo.pipelines.codecs.base import Codec, register_codec

NUM_SPECIAL_EVENTS = 2  # NO_EVENT (-2) -> class 0, NOTE_OFF (-1) -> class 1


@register_codec
class MelodyOneHotCodec(Codec):
    """Pitches in [min_note, max_note) plus NO_EVENT and NOTE_OFF, one-hot inputs.

    Magenta's `basic_rnn` uses min_note=48, max_note=84 (38 classes); `mono_rnn` 0..128.
    """

    def __init__(self, min_note=48, max_note=84):
        if not 0 <= min_note < max_note <= 128:
            raise ValueError(f"need 0 <= min_note < max_note <= 128, got {min_note}, {max_note}")
        self.min_note, self.max_note = int(min_note), int(max_note)
        self.num_classes = self.max_note - self.min_note + NUM_SPECIAL_EVENTS
        self.input_size = self.num_classes
        self.default_event = -2
        self.default_id = 0

    def events_to_ids(self, events):
        events = np.asarray(events, np.int64)
        bad = (events < -NUM_SPECIAL_EVENTS) | ((events >= 0) & (events < self.min_note)) | (
            events >= self.max_note)
        if bad.any():
            value = int(events[bad][0])
            raise ValueError(f"melody event {value} is outside this codec's range: pitches "
                             f"{self.min_note}..{self.max_note - 1}, -1 (note off), -2 (no event)")
        return np.where(events < 0, events + NUM_SPECIAL_EVENTS,
                        events - self.min_note + NUM_SPECIAL_EVENTS)

    def ids_to_events(self, ids):
        ids = np.asarray(ids, np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_classes):
            raise ValueError(f"class ids must lie in [0, {self.num_classes})")
        return np.where(ids < NUM_SPECIAL_EVENTS, ids - NUM_SPECIAL_EVENTS,
                        ids - NUM_SPECIAL_EVENTS + self.min_note).astype(np.int32)

    def encode_batch(self, sequences):
        """One validation and one one-hot over the whole batch, then views per melody."""
        lengths = np.array([len(events) for events in sequences], np.int64)
        if not len(lengths):
            return []
        ids = self.events_to_ids(np.concatenate(sequences))
        inputs = self.inputs_from_ids(ids)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).tolist()
        return [(inputs[a:a + n - 1], ids[a + 1:a + n]) for a, n in zip(starts, lengths.tolist())]

    def get_config(self):
        return {"class": type(self).__name__, "min_note": self.min_note, "max_note": self.max_note}
