"""Lookback encoding (Magenta's LookbackEventSequenceEncoderDecoder), vectorised.

Inputs: the current event, the event that followed each lookback distance ago, a binary
counter of the next step's metric position, and whether the current event repeats each
lookback. Labels: "repeat the event N steps back" classes, most distant first, else the
event itself. Used by lookback_rnn, attention_rnn (distances 16 and 32, 5 counter bits)
and drum_kit (no distances, 6 counter bits).
"""
import numpy as np

from musiczoo.pipelines.codecs.base import Codec, codec_from_config, register_codec

DEFAULT_LOOKBACK_DISTANCES = (16, 32)


def lookback_labels(ids, distances, first_repeat_class, default_id):
    """Labels of positions 1..T-1: `first_repeat_class + i` where the event repeats the one
    `distances[i]` steps back (the latest listed distance wins, as note_seq checks them
    last-first), else the id itself. Silence before the last listed distance becomes the
    last repeat class (note_seq's rule, which uses the last listed, not the largest)."""
    ids = np.asarray(ids, np.int64)
    position = np.arange(1, len(ids))
    current = ids[1:]
    labels = current.copy()
    for i, distance in enumerate(distances):
        source = position - distance
        repeats = (source >= 0) & (current == ids[np.maximum(source, 0)])
        labels[repeats] = first_repeat_class + i
    if len(distances):
        early_default = (position < distances[-1]) & (current == default_id)
        labels[early_default] = first_repeat_class + len(distances) - 1
    return labels


def resolve_repeat_label(label, previous_ids, distances, first_repeat_class, default_id):
    """A sampled label as an event id: repeat classes look back into `previous_ids` (the
    default event when the history is too short); other labels are ids already."""
    index = label - first_repeat_class
    if 0 <= index < len(distances):
        distance = distances[index]
        return previous_ids[-distance] if len(previous_ids) >= distance else default_id
    return label


@register_codec
class LookbackCodec(Codec):
    """Wraps a one-hot codec (any with num_classes, events_to_ids, ids_to_events, default_id).

    Repeats are detected on class ids, which equal event equality for injective base
    codecs (melodies); for drums Magenta compared pitch sets, which only matters with
    lookback distances, and drum_kit has none.
    """

    def __init__(self, base, lookback_distances=DEFAULT_LOOKBACK_DISTANCES, binary_counter_bits=5):
        self.base = codec_from_config(base) if isinstance(base, dict) else base
        self.lookback_distances = tuple(int(d) for d in lookback_distances)
        self.binary_counter_bits = int(binary_counter_bits)
        base_classes = self.base.num_classes
        lookbacks = len(self.lookback_distances)
        self.num_classes = base_classes + lookbacks
        self.input_size = (base_classes * (1 + lookbacks) + self.binary_counter_bits + lookbacks)
        self.default_event = self.base.default_event
        self.default_id = self.base.default_id

    def events_to_ids(self, events):
        return self.base.events_to_ids(events)

    def ids_to_events(self, ids):
        """Base-codec ids only (resolve repeat labels with `resolve_label` first)."""
        return self.base.ids_to_events(ids)

    def inputs_from_ids(self, ids):
        ids = np.asarray(ids, np.int64)
        length, base_classes = len(ids), self.base.num_classes
        position = np.arange(length)
        eye = np.eye(base_classes, dtype=np.float32)
        parts = [eye[ids]]
        for distance in self.lookback_distances:
            source = position - distance + 1
            looked = np.where(source >= 0, ids[np.maximum(source, 0)], self.default_id)
            parts.append(eye[looked])
        n = position + 1
        bits = (n[:, None] >> np.arange(self.binary_counter_bits)[None, :]) & 1
        parts.append(np.where(bits == 1, 1.0, -1.0).astype(np.float32))
        for distance in self.lookback_distances:
            source = position - distance
            repeats = (source >= 0) & (ids == ids[np.maximum(source, 0)])
            parts.append(repeats[:, None].astype(np.float32))
        return np.concatenate(parts, axis=1)

    def labels_from_ids(self, ids):
        return lookback_labels(ids, self.lookback_distances, self.base.num_classes,
                               self.default_id)

    def resolve_label(self, label, previous_ids):
        """Turns a sampled label into a base id given the ids generated so far."""
        return resolve_repeat_label(label, previous_ids, self.lookback_distances,
                                    self.base.num_classes, self.default_id)

    def get_config(self):
        return {"class": type(self).__name__, "base": self.base.get_config(),
                "lookback_distances": list(self.lookback_distances),
                "binary_counter_bits": self.binary_counter_bits}
