"""Multi-instrument events <-> classes (the multi-instrument Music Transformer's vocabulary).

Classes are consecutive ranges, in this order:
  NOTE_ON of each pitched instrument (16 GM families x min_pitch..max_pitch),
  NOTE_OFF of each pitched instrument (the same),
  drum hits (drum_min..drum_max),
  TIME_SHIFT 1..max_shift_steps, VELOCITY 1..num_velocity_bins,
  STYLE (one per style name), INSTRUMENT (17: the families, then drums).

Why a note-on/off class per instrument rather than an instrument token before each note
(MuseNet's other option): a piece is a third to a half shorter in tokens (band music is
mostly note events), so more music fits a context and trains per second, and the
instrument control is one mask over the classes (forbid the classes of instruments not
asked for) with nothing to track across steps. The vocabulary is ~3,000 classes; the
embedding and output layers at width 256 cost ~1.5M parameters.
"""
import numpy as np

from musiczoo.pipelines.codecs.base import Codec, register_codec
from musiczoo.pipelines.extract import multitrack as mt


@register_codec
class MultitrackCodec(Codec):
    def __init__(self, styles=("any",), num_velocity_bins=8, max_shift_steps=48,
                 min_pitch=21, max_pitch=108, drum_min=27, drum_max=87):
        styles = tuple(str(s) for s in styles)
        if not styles or len(set(styles)) != len(styles):
            raise ValueError(f"styles must be distinct names, got {styles!r}")
        if not 0 <= min_pitch <= max_pitch <= 127 or not 0 <= drum_min <= drum_max <= 127:
            raise ValueError("pitch ranges must lie in 0..127, low <= high")
        if not 0 <= num_velocity_bins <= 127 or max_shift_steps < 1:
            raise ValueError("need 0 <= num_velocity_bins <= 127 and max_shift_steps >= 1")
        self.styles = styles
        self.num_velocity_bins, self.max_shift_steps = int(num_velocity_bins), int(max_shift_steps)
        self.min_pitch, self.max_pitch = int(min_pitch), int(max_pitch)
        self.drum_min, self.drum_max = int(drum_min), int(drum_max)
        self.num_pitches = self.max_pitch - self.min_pitch + 1
        pitched = mt.DRUMS * self.num_pitches
        sizes = {"on": pitched, "off": pitched, "drum": self.drum_max - self.drum_min + 1,
                 "shift": self.max_shift_steps, "velocity": self.num_velocity_bins,
                 "style": len(styles), "instrument": mt.NUM_INSTRUMENTS}
        self.offsets, start = {}, 0
        for name, size in sizes.items():
            self.offsets[name] = start
            start += size
        self.sizes = sizes
        self.num_classes = start
        self.input_size = self.num_classes
        self.num_reserved_ids = 0
        self.default_event = (mt.TIME_SHIFT, self.max_shift_steps)
        self.default_id = self.offsets["shift"] + self.max_shift_steps - 1

    # -- ids of things --------------------------------------------------------------------

    def style_id(self, style):
        if isinstance(style, str):
            if style not in self.styles:
                raise ValueError(f"unknown style {style!r}; this model knows "
                                 f"{', '.join(self.styles)}")
            style = self.styles.index(style)
        return self.offsets["style"] + int(style)

    def instrument_id(self, instrument):
        return self.offsets["instrument"] + int(instrument)

    def note_on_ids(self, instrument):
        """[first, last] class ids of one instrument's note-ons (drums: its hits)."""
        if instrument == mt.DRUMS:
            return self.offsets["drum"], self.offsets["drum"] + self.sizes["drum"] - 1
        first = self.offsets["on"] + instrument * self.num_pitches
        return first, first + self.num_pitches - 1

    def note_off_ids(self, instrument):
        first = self.offsets["off"] + instrument * self.num_pitches
        return first, first + self.num_pitches - 1

    def instrument_of_ids(self, ids):
        """Instrument of every note class (-1 for the other classes)."""
        ids = np.asarray(ids, np.int64)
        out = np.full(ids.shape, -1, np.int64)
        for kind in ("on", "off"):
            inside = (ids >= self.offsets[kind]) & (ids < self.offsets[kind] + self.sizes[kind])
            out = np.where(inside, (ids - self.offsets[kind]) // self.num_pitches, out)
        drum = (ids >= self.offsets["drum"]) & (ids < self.offsets["drum"] + self.sizes["drum"])
        return np.where(drum, mt.DRUMS, out)

    def pitch_id_ranges(self):
        """Note-on and note-off ranges of every pitched instrument (transposition moves
        them; drums stay)."""
        return ([self.note_on_ids(i) for i in range(mt.DRUMS)]
                + [self.note_off_ids(i) for i in range(mt.DRUMS)])

    def prefix_ids(self, style, instruments):
        return np.asarray([self.style_id(style)] + [self.instrument_id(i)
                                                    for i in sorted(set(instruments))], np.int64)

    # -- the codec contract ---------------------------------------------------------------

    def events_to_ids(self, events):
        rows = np.asarray(events, np.int64).reshape(-1, 2)
        kind, value = rows[:, 0], rows[:, 1]
        ids = np.full(len(rows), -1, np.int64)
        instrument, pitch = value // 128, value % 128
        drum = instrument == mt.DRUMS
        pitched_ok = (instrument >= 0) & (instrument < mt.DRUMS) & (
            pitch >= self.min_pitch) & (pitch <= self.max_pitch)
        local = instrument * self.num_pitches + pitch - self.min_pitch
        drum_ok = drum & (pitch >= self.drum_min) & (pitch <= self.drum_max)
        on = kind == mt.NOTE_ON
        ids = np.where(on & pitched_ok, self.offsets["on"] + local, ids)
        ids = np.where(on & drum_ok, self.offsets["drum"] + pitch - self.drum_min, ids)
        ids = np.where((kind == mt.NOTE_OFF) & pitched_ok, self.offsets["off"] + local, ids)
        for event_type, name, low in ((mt.TIME_SHIFT, "shift", 1), (mt.VELOCITY, "velocity", 1),
                                      (mt.STYLE, "style", 0), (mt.INSTRUMENT, "instrument", 0)):
            ok = (kind == event_type) & (value >= low) & (value < low + self.sizes[name])
            ids = np.where(ok, self.offsets[name] + value - low, ids)
        bad = np.flatnonzero(ids < 0)
        if len(bad):
            i = int(bad[0])
            name = mt.EVENT_NAMES.get(int(kind[i]), f"type {int(kind[i])}")
            raise ValueError(f"event {i} ({name}, {int(value[i])}) is outside this codec: "
                             f"pitches {self.min_pitch}..{self.max_pitch}, drums "
                             f"{self.drum_min}..{self.drum_max}, shifts 1..{self.max_shift_steps}, "
                             f"velocity bins 1..{self.num_velocity_bins}, "
                             f"{len(self.styles)} styles")
        return ids

    def ids_to_events(self, ids):
        ids = np.asarray(ids, np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_classes):
            raise ValueError(f"event ids must lie in [0, {self.num_classes})")
        out = np.zeros((len(ids), 2), np.int64)
        for name in ("on", "off", "drum", "shift", "velocity", "style", "instrument"):
            first = self.offsets[name]
            inside = (ids >= first) & (ids < first + self.sizes[name])
            local = ids[inside] - first
            if name in ("on", "off"):
                instrument, pitch = local // self.num_pitches, local % self.num_pitches
                out[inside] = np.stack([np.full(len(local), mt.NOTE_ON if name == "on"
                                                else mt.NOTE_OFF),
                                        instrument * 128 + pitch + self.min_pitch], axis=1)
            elif name == "drum":
                out[inside, 0], out[inside, 1] = mt.NOTE_ON, mt.DRUMS * 128 + local + self.drum_min
            else:
                event_type = {"shift": mt.TIME_SHIFT, "velocity": mt.VELOCITY,
                              "style": mt.STYLE, "instrument": mt.INSTRUMENT}[name]
                low = 1 if name in ("shift", "velocity") else 0
                out[inside, 0], out[inside, 1] = event_type, local + low
        return out.astype(np.int32)

    def get_config(self):
        return {"class": type(self).__name__, "styles": list(self.styles),
                "num_velocity_bins": self.num_velocity_bins,
                "max_shift_steps": self.max_shift_steps, "min_pitch": self.min_pitch,
                "max_pitch": self.max_pitch, "drum_min": self.drum_min,
                "drum_max": self.drum_max}
