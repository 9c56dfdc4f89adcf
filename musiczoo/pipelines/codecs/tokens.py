"""Token streams for language models (the Music Transformer): a base codec's classes with
a start symbol in front, inputs and labels one token apart.

The model embeds `num_classes + 1` input ids (the last is the start symbol, never a
label) and predicts `num_classes` classes. Inputs are stored as one float per token
(the id), so datasets stay small and random crops cut inputs and labels together.
"""
import numpy as np

from musiczoo.pipelines.codecs.base import Codec, codec_from_config, register_codec


@register_codec
class TokenCodec(Codec):
    def __init__(self, base):
        self.base = base if isinstance(base, Codec) else codec_from_config(base)
        self.num_classes = self.base.num_classes
        self.start_id = self.num_classes
        self.input_size = 1
        self.default_id = self.base.default_id
        self.num_reserved_ids = getattr(self.base, "num_reserved_ids", 0)

    def pitch_id_ranges(self):
        """Class id ranges that transposition shifts (note-on/off pitches, grid pitches)."""
        if hasattr(self.base, "pitch_id_ranges"):
            return self.base.pitch_id_ranges()
        return []

    def events_to_ids(self, events):
        return np.asarray(self.base.events_to_ids(events), np.int64)

    def ids_to_events(self, ids):
        return self.base.ids_to_events(ids)

    def tokens(self, events):
        """The start symbol followed by the events' classes."""
        return np.concatenate([[self.start_id], self.events_to_ids(events)]).astype(np.int64)

    def encode(self, events):
        tokens = self.tokens(events)
        return tokens[:-1, None].astype(np.float32), tokens[1:]

    def get_config(self):
        return {"class": type(self).__name__, "base": self.base.get_config()}
