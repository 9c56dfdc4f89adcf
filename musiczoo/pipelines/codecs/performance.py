"""Performance events <-> classes, numbered as note_seq's PerformanceOneHotEncoding.

Classes are consecutive ranges: NOTE_ON pitches, NOTE_OFF pitches, TIME_SHIFT 1..max,
then VELOCITY 1..bins (if any). Full MIDI range, 100 shifts, 32 bins: 388 classes;
the 88 piano keys (21..108): 308, or 310 with Music Transformer's two reserved ids
(padding 0, end-of-sequence 1) in front, which `num_reserved_ids=2` reproduces.
"""
import numpy as np

from musiczoo.pipelines.codecs.base import Codec, register_codec
from musiczoo.pipelines.extract.performances import (EVENT_NAMES, NOTE_OFF, NOTE_ON,
                                                     TIME_SHIFT, VELOCITY, Performance)


@register_codec
class PerformanceCodec(Codec):
    """One class per performance event, one-hot inputs (Magenta's performance_rnn)."""

    def __init__(self, num_velocity_bins=32, max_shift_steps=100, min_pitch=0, max_pitch=127,
                 num_reserved_ids=0):
        if not 0 <= min_pitch <= max_pitch <= 127:
            raise ValueError(f"need 0 <= min_pitch <= max_pitch <= 127, got {min_pitch}, {max_pitch}")
        if not 0 <= num_velocity_bins <= 127:
            raise ValueError(f"num_velocity_bins must lie in 0..127, got {num_velocity_bins}")
        if max_shift_steps < 1:
            raise ValueError(f"max_shift_steps must be >= 1, got {max_shift_steps}")
        if num_reserved_ids < 0:
            raise ValueError(f"num_reserved_ids must be >= 0, got {num_reserved_ids}")
        self.num_velocity_bins = int(num_velocity_bins)
        self.max_shift_steps = int(max_shift_steps)
        self.min_pitch, self.max_pitch = int(min_pitch), int(max_pitch)
        self.num_reserved_ids = int(num_reserved_ids)
        # (event type, smallest value, largest value) in class order.
        ranges = [(NOTE_ON, self.min_pitch, self.max_pitch),
                  (NOTE_OFF, self.min_pitch, self.max_pitch),
                  (TIME_SHIFT, 1, self.max_shift_steps)]
        if self.num_velocity_bins:
            ranges.append((VELOCITY, 1, self.num_velocity_bins))
        self._ranges = ranges
        sizes = [high - low + 1 for _, low, high in ranges]
        self._offsets = self.num_reserved_ids + np.concatenate([[0], np.cumsum(sizes)[:-1]])
        # Lookup by event type number (index 0 unused).
        self._type_offset = np.full(VELOCITY + 1, -1, np.int64)
        self._type_low = np.zeros(VELOCITY + 1, np.int64)
        self._type_high = np.full(VELOCITY + 1, -1, np.int64)
        for (event_type, low, high), offset in zip(ranges, self._offsets):
            self._type_offset[event_type] = offset
            self._type_low[event_type], self._type_high[event_type] = low, high
        self.num_classes = self.num_reserved_ids + sum(sizes)
        self.input_size = self.num_classes
        # note_seq's default event is the longest time shift.
        self.default_event = (TIME_SHIFT, self.max_shift_steps)
        self.default_id = int(self._type_offset[TIME_SHIFT]) + self.max_shift_steps - 1

    @staticmethod
    def _as_rows(events):
        if isinstance(events, Performance):
            return events.events
        if not isinstance(events, np.ndarray):
            events = [(e.event_type, e.event_value) if hasattr(e, "event_type") else e
                      for e in events]
        return np.asarray(events, np.int64).reshape(-1, 2)

    def events_to_ids(self, events):
        """Classes of a Performance, an [N, 2] (type, value) array, or note_seq events."""
        rows = self._as_rows(events)
        event_type, value = rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64)
        known = (event_type >= 1) & (event_type <= VELOCITY)
        safe_type = np.where(known, event_type, 0)
        bad = ~known | (self._type_offset[safe_type] < 0) | (
            value < self._type_low[safe_type]) | (value > self._type_high[safe_type])
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            name = EVENT_NAMES.get(int(event_type[i]), f"type {int(event_type[i])}")
            raise ValueError(f"event {i} ({name}, {int(value[i])}) is outside this codec: "
                             f"pitches {self.min_pitch}..{self.max_pitch}, shifts "
                             f"1..{self.max_shift_steps}, velocity bins 1..{self.num_velocity_bins}")
        return self._type_offset[event_type] + value - self._type_low[event_type]

    def ids_to_events(self, ids):
        """[N, 2] int32 (type, value) rows; reserved ids are refused."""
        ids = np.asarray(ids, np.int64)
        if ids.size and (ids.min() < self.num_reserved_ids or ids.max() >= self.num_classes):
            raise ValueError(f"event ids must lie in [{self.num_reserved_ids}, {self.num_classes})")
        which = np.searchsorted(self._offsets, ids, side="right") - 1
        types = np.array([event_type for event_type, _, _ in self._ranges], np.int64)[which]
        lows = np.array([low for _, low, _ in self._ranges], np.int64)[which]
        return np.stack([types, ids - self._offsets[which] + lows], axis=1).astype(np.int32)

    def pitch_id_ranges(self):
        """[(first, last)] class ids of the NOTE_ON and NOTE_OFF pitch ranges."""
        return [(int(self._type_offset[t]),
                 int(self._type_offset[t]) + self.max_pitch - self.min_pitch)
                for t in (NOTE_ON, NOTE_OFF)]

    def get_config(self):
        return {"class": type(self).__name__, "num_velocity_bins": self.num_velocity_bins,
                "max_shift_steps": self.max_shift_steps, "min_pitch": self.min_pitch,
                "max_pitch": self.max_pitch, "num_reserved_ids": self.num_reserved_ids}


#: Magenta's NoteDensityPerformanceControlSignal bins (notes per second).
DENSITY_BIN_RANGES = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
DEFAULT_NOTE_DENSITY = 15.0          # Magenta's defaults when a control is not given
DEFAULT_PITCH_HISTOGRAM = (1.0,) * 12
CONTROL_SIGNALS = ("notes_per_second", "pitch_class_histogram")


@register_codec
class ConditionedPerformanceCodec(PerformanceCodec):
    """Performance events under control signals, as Magenta's conditioned Performance RNN
    configs encode them (ConditionalEventSequenceEncoderDecoder): each input is
    [control vector, one-hot event], the control vector being, in `control_signals`
    order, a one-hot note-density bin (8: below 1, 2, 4, 8, 16, 32, 64 notes per second,
    or above) and/or a 12-bin pitch-class histogram normalised to sum 1; with
    `optional_conditioning` a leading flag (1: conditioning off, the rest zeros)."""

    def __init__(self, num_velocity_bins=32, max_shift_steps=100,
                 control_signals=CONTROL_SIGNALS, optional_conditioning=False):
        super().__init__(num_velocity_bins, max_shift_steps)
        control_signals = tuple(control_signals)
        if not control_signals or any(c not in CONTROL_SIGNALS for c in control_signals) or \
                len(set(control_signals)) != len(control_signals):
            raise ValueError(f"control_signals must be some of {CONTROL_SIGNALS}, got "
                             f"{control_signals!r}")
        self.control_signals = control_signals
        self.optional_conditioning = bool(optional_conditioning)
        widths = {"notes_per_second": len(DENSITY_BIN_RANGES) + 1, "pitch_class_histogram": 12}
        self.control_width = int(self.optional_conditioning) + sum(
            widths[c] for c in control_signals)
        self.input_size = self.control_width + self.num_classes

    def control_vector(self, notes_per_second=None, pitch_class_histogram=None,
                       disabled=False):
        """float32 [control_width]: the constant conditioning of a generation."""
        if disabled:
            if not self.optional_conditioning:
                raise ValueError("this config's conditioning cannot be turned off")
            return np.concatenate([[1.0], np.zeros(self.control_width - 1)]).astype(np.float32)
        parts = [[0.0]] if self.optional_conditioning else []
        for signal in self.control_signals:
            if signal == "notes_per_second":
                density = DEFAULT_NOTE_DENSITY if notes_per_second is None else \
                    float(notes_per_second)
                if not np.isfinite(density) or density < 0:
                    raise ValueError(f"notes_per_second must be a number >= 0, got "
                                     f"{notes_per_second!r}")
                bins = np.zeros(len(DENSITY_BIN_RANGES) + 1)
                bins[int(np.searchsorted(DENSITY_BIN_RANGES, density, side="right"))] = 1.0
                parts.append(bins)
            else:
                histogram = np.asarray(DEFAULT_PITCH_HISTOGRAM if pitch_class_histogram is None
                                       else pitch_class_histogram, np.float64)
                if histogram.shape != (12,) or not np.isfinite(histogram).all() or \
                        (histogram < 0).any():
                    raise ValueError("pitch_class_histogram must be 12 numbers >= 0 (C, C#, "
                                     f"..., B), got {pitch_class_histogram!r}")
                total = histogram.sum()
                parts.append(histogram / total if total > 0 else np.full(12, 1.0 / 12))
        return np.concatenate(parts).astype(np.float32)

    def inputs_from_ids(self, ids, control=None):
        """[control, one-hot event] per position: `control` held constant (generation),
        or, for training data, the signals Magenta's pipeline extracts from the
        performance itself (controls_from_ids)."""
        events = super().inputs_from_ids(ids)
        if control is None:
            controls = self.controls_from_ids(ids)
        else:
            controls = np.tile(np.asarray(control, np.float32), (len(events), 1))
        return np.concatenate([controls, events], axis=1)

    def controls_from_ids(self, ids):
        """float32 [T, control_width]: row i is the control of position i + 1 (Magenta's
        ConditionalEventSequenceEncoderDecoder: the input that predicts event i + 1 carries
        the control at i + 1), extracted as Magenta's pipeline did: note density over
        the 3 s from each event, the pitch-class histogram of the 5 s from it (note_seq's
        own control signals and encoders). The last row repeats the one before it; it
        never reaches a training example (encode drops the last input)."""
        if self.optional_conditioning:
            raise ValueError("datasets for the optionally conditioned config are not built "
                             "(Magenta trained it on conditioned and unconditioned copies)")
        from note_seq import performance_controls, performance_lib
        performance = performance_lib.Performance(
            steps_per_second=100, num_velocity_bins=self.num_velocity_bins,
            max_shift_steps=self.max_shift_steps)
        for event_type, value in self.ids_to_events(ids):
            performance.append(performance_lib.PerformanceEvent(int(event_type), int(value)))
        signals = []
        for name in self.control_signals:
            if name == "notes_per_second":
                signals.append(performance_controls.NoteDensityPerformanceControlSignal(
                    window_size_seconds=3.0, density_bin_ranges=list(DENSITY_BIN_RANGES)))
            else:
                signals.append(performance_controls.PitchHistogramPerformanceControlSignal(
                    window_size_seconds=5.0))
        values = [signal.extract(performance) for signal in signals]
        rows = []
        for position in range(len(ids)):
            at = min(position + 1, len(ids) - 1)
            row = []
            for signal, sequence in zip(signals, values):
                row += signal.encoder.events_to_input(sequence, at)
            rows.append(row)
        return np.asarray(rows, np.float32).reshape(len(ids), self.control_width)

    def get_config(self):
        config = super().get_config()
        for key in ("min_pitch", "max_pitch", "num_reserved_ids"):
            config.pop(key)
        return {**config, "control_signals": list(self.control_signals),
                "optional_conditioning": self.optional_conditioning}


@register_codec
class ModuloPerformanceCodec(PerformanceCodec):
    """Performance events with Magenta's modulo (circular) input encoding
    (performance_with_dynamics_and_modulo_encoding): the labels are the one-hot classes;
    each input marks the event's type and places its value on circles (pitch on a
    144-note circle and by pitch class, time shift and velocity in modulo bins). The input
    of an event depends on that event alone, so it is a table row per class, computed
    once with note_seq's own PerformanceModuloEncoding."""

    def __init__(self, num_velocity_bins=32, max_shift_steps=100):
        super().__init__(num_velocity_bins, max_shift_steps)
        self._table = None
        self.input_size = self._modulo().input_size

    def _modulo(self):
        from note_seq.performance_encoder_decoder import PerformanceModuloEncoding
        return PerformanceModuloEncoding(num_velocity_bins=self.num_velocity_bins,
                                         max_shift_steps=self.max_shift_steps)

    def input_table(self):
        """float32 [num_classes, input_size]: the input of every class's event."""
        if self._table is None:
            from note_seq.performance_encoder_decoder import \
                ModuloPerformanceEventSequenceEncoderDecoder
            from note_seq.performance_lib import PerformanceEvent
            encoder = ModuloPerformanceEventSequenceEncoderDecoder(
                num_velocity_bins=self.num_velocity_bins, max_shift_steps=self.max_shift_steps)
            events = self.ids_to_events(np.arange(self.num_classes))
            self._table = np.asarray(
                [encoder.events_to_input([PerformanceEvent(int(t), int(v))], 0)
                 for t, v in events], np.float32)
        return self._table

    def inputs_from_ids(self, ids):
        return self.input_table()[np.asarray(ids, np.int64)]

    def get_config(self):
        return {"class": type(self).__name__, "num_velocity_bins": self.num_velocity_bins,
                "max_shift_steps": self.max_shift_steps}
