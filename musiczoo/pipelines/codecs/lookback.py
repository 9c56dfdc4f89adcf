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
        ids = np.asarray(ids, np.int64)
        position = np.arange(1, len(ids))
        current = ids[1:]
        labels = current.copy()
        # Nearer repeats first so that more distant ones overwrite them (Magenta prefers
        # the most distant repeat).
        for i, distance in enumerate(self.lookback_distances):
            source = position - distance
            repeats = (source >= 0) & (current == ids[np.maximum(source, 0)])
            labels[repeats] = self.base.num_classes + i
        if self.lookback_distances:
            early_default = (position < self.lookback_distances[-1]) & (current == self.default_id)
            labels[early_default] = self.num_classes - 1
        return labels

    def resolve_label(self, label, previous_ids):
        """Turns a sampled label into a base id given the ids generated so far."""
        for i in reversed(range(len(self.lookback_distances))):
            if label == self.base.num_classes + i:
                distance = self.lookback_distances[i]
                return previous_ids[-distance] if len(previous_ids) >= distance else self.default_id
        return label

    def get_config(self):
        return {"class": type(self).__name__, "base": self.base.get_config(),
                "lookback_distances": list(self.lookback_distances),
                "binary_counter_bits": self.binary_counter_bits}
