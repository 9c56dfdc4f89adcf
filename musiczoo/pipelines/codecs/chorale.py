"""Four-voice chorales on a 16th-note grid, serialized as in the Music Transformer's JSB
Chorales experiment (Huang et al. 2018, after Coconet): at every step the soprano, alto,
tenor and bass pitches in that order, one token each, a held note repeating its pitch.

Events are an int array [T, 4] of MIDI pitches with -1 for a silent voice; classes are
0 for silence and 1.. for the pitches min_pitch..max_pitch, so the sequence of classes
is the grid read row by row (4 * T tokens).
"""
import numpy as np

from musiczoo.pipelines.codecs.base import Codec, register_codec

REST = -1


@register_codec
class ChoraleGridCodec(Codec):
    """[T, voices] pitch grid <-> 4T classes (rest = class 0); inputs are the classes."""

    def __init__(self, min_pitch=30, max_pitch=90, num_voices=4):
        if not 0 <= min_pitch <= max_pitch <= 127:
            raise ValueError(f"need 0 <= min_pitch <= max_pitch <= 127, got {min_pitch}, "
                             f"{max_pitch}")
        if num_voices < 1:
            raise ValueError(f"num_voices must be >= 1, got {num_voices}")
        self.min_pitch, self.max_pitch = int(min_pitch), int(max_pitch)
        self.num_voices = int(num_voices)
        self.num_classes = self.max_pitch - self.min_pitch + 2
        self.input_size = 1
        self.default_id = 0

    def pitch_id_ranges(self):
        """[(first, last)] class ids that are pitches (moved by transposition)."""
        return [(1, self.num_classes - 1)]

    def events_to_ids(self, events):
        grid = np.asarray(events, np.int64)
        if grid.ndim != 2 or grid.shape[1] != self.num_voices:
            raise ValueError(f"a chorale grid is [steps, {self.num_voices}] pitches, "
                             f"got shape {grid.shape}")
        sounding = grid != REST
        bad = sounding & ((grid < self.min_pitch) | (grid > self.max_pitch))
        bad |= ~sounding & (grid != REST)
        if bad.any():
            step, voice = (int(x) for x in np.argwhere(bad)[0])
            raise ValueError(f"pitch {int(grid[step, voice])} at step {step}, voice {voice} is "
                             f"outside this codec's range {self.min_pitch}..{self.max_pitch}")
        return np.where(sounding, grid - self.min_pitch + 1, 0).reshape(-1)

    def ids_to_events(self, ids):
        """[T, voices] pitches (-1 rest) from classes; a trailing partial step is dropped."""
        ids = np.asarray(ids, np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_classes):
            raise ValueError(f"class ids must lie in [0, {self.num_classes})")
        ids = ids[:len(ids) - len(ids) % self.num_voices].reshape(-1, self.num_voices)
        return np.where(ids > 0, ids + self.min_pitch - 1, REST).astype(np.int32)

    def get_config(self):
        return {"class": type(self).__name__, "min_pitch": self.min_pitch,
                "max_pitch": self.max_pitch, "num_voices": self.num_voices}
