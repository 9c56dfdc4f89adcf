"""Drum events <-> classes, numbered as note_seq's MultiDrumOneHotEncoding numbers them.

Each drum pitch belongs to one of N drum types; an event (a set of pitches) becomes
the bitmask of the types present, so there are 2**N classes (512 for the default
9-type kit). Decoding plays the first pitch listed for each type.
"""
import numpy as np

from musiczoo.pipelines.codecs.base import Codec, register_codec

# note_seq.drums_encoder_decoder.DEFAULT_DRUM_TYPE_PITCHES: GM1/GM2 drums folded onto
# a 9-piece kit by sound and function; the first pitch of each type is what decodes.
DEFAULT_DRUM_TYPE_PITCHES = (
    (36, 35),                                                       # kick
    (38, 27, 28, 31, 32, 33, 34, 37, 39, 40, 56, 65, 66, 75, 85),   # snare
    (42, 44, 54, 68, 69, 70, 71, 73, 78, 80, 22),                   # closed hi-hat
    (46, 67, 72, 74, 79, 81, 26),                                   # open hi-hat
    (45, 29, 41, 43, 61, 64, 84),                                   # low tom
    (48, 47, 60, 63, 77, 86, 87),                                   # mid tom
    (50, 30, 62, 76, 83),                                           # high tom
    (49, 52, 55, 57, 58),                                           # crash
    (51, 53, 59, 82),                                               # ride
)

# Magenta's `one_drum` config: one type holding every pitch, hand clap (39) first so it
# is what decodes. The list is Magenta's verbatim, 39 included twice
# ([39] + range(0, 39) + range(39, 128)); the repeat changes nothing.
ONE_DRUM_PITCHES = ((39,) + tuple(range(0, 39)) + tuple(range(39, 128)),)

MAX_PITCH = 127


@register_codec
class MultiDrumCodec(Codec):
    """Bitmask-of-drum-types classes with one-hot inputs (Magenta's one_drum, and the base
    of drum_kit when wrapped in the Lookback codec with no distances and 6 counter bits).
    """

    def __init__(self, drum_type_pitches=None, ignore_unknown_drums=True):
        if drum_type_pitches is None:
            drum_type_pitches = DEFAULT_DRUM_TYPE_PITCHES
        self.drum_type_pitches = [[int(p) for p in pitches] for pitches in drum_type_pitches]
        if not self.drum_type_pitches or any(not pitches for pitches in self.drum_type_pitches):
            raise ValueError("drum_type_pitches needs at least one type, each with >= 1 pitch")
        for pitches in self.drum_type_pitches:
            for pitch in pitches:
                if not 0 <= pitch <= MAX_PITCH:
                    raise ValueError(f"drum pitch {pitch} is outside 0..{MAX_PITCH}")
        self.ignore_unknown_drums = bool(ignore_unknown_drums)
        num_types = len(self.drum_type_pitches)
        # Bit of each pitch's type; a pitch listed under two types keeps the later one,
        # as note_seq's inverse map does. -1 marks an unknown pitch.
        self._type_of_pitch = np.full(MAX_PITCH + 1, -1, np.int64)
        for index, pitches in enumerate(self.drum_type_pitches):
            self._type_of_pitch[pitches] = index
        self.num_classes = 2 ** num_types
        self.input_size = self.num_classes
        self.default_event = frozenset()
        self.default_id = 0
        # Each bit's decoded pitch: the first pitch listed for the type.
        self._first_pitch = [pitches[0] for pitches in self.drum_type_pitches]
        self._id_cache = {}

    def _event_to_id(self, event):
        mask = 0
        for pitch in event:
            index = int(self._type_of_pitch[pitch]) if 0 <= pitch <= MAX_PITCH else -1
            if index >= 0:
                mask |= 1 << index
            elif not self.ignore_unknown_drums:
                raise ValueError(f"unknown drum pitch {pitch} (ignore_unknown_drums=False)")
        return mask

    def events_to_ids(self, events):
        """Class of every event (a set of drum pitches): int64 [T]."""
        ids = np.empty(len(events), np.int64)
        cache = self._id_cache
        # Tracks repeat a handful of distinct events, so look each one up once.
        for i, event in enumerate(events):
            if not isinstance(event, frozenset):
                event = frozenset(event)
            mask = cache.get(event)
            if mask is None:
                mask = cache[event] = self._event_to_id(event)
            ids[i] = mask
        return ids

    def ids_to_events(self, ids):
        ids = np.asarray(ids, np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_classes):
            raise ValueError(f"class ids must lie in [0, {self.num_classes})")
        return [frozenset(pitch for bit, pitch in enumerate(self._first_pitch) if i >> bit & 1)
                for i in ids.tolist()]

    def get_config(self):
        return {"class": type(self).__name__, "drum_type_pitches": self.drum_type_pitches,
                "ignore_unknown_drums": self.ignore_unknown_drums}
