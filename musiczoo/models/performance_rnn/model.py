"""Performance RNN on the shared events-RNN core: MIDI primers as performance events,
expressive piano out. Lengths are events (as musiczoo's performance Transformer counts
them), not Magenta's 10 ms steps; musical controls other than --instrument and --qpm do
not apply yet (a performance has no bars to plan in)."""
import numpy as np

from musiczoo.models.events_rnn import primers
from musiczoo.models.events_rnn.family import EventsRNN
from musiczoo.pipelines.extract import performances


class PerformanceRNN(EventsRNN):
    family = "performance_rnn"
    primer_flags = ("primer_midi",)
    default_num_steps = 1024   # events (about 20-40 s of piano)
    no_primer_hint = "use --primer_midi (a performance to continue)"

    def primer_ids(self, primer):
        kind, value = primers.unpack(primer, ("events",))
        if kind is None:
            # note_seq's default event (the longest time shift) opens the performance.
            return np.asarray([self.codec.default_id], np.int32), {}
        if kind == "events":  # (event type, value) pairs, as codec.ids_to_events gives
            try:
                return np.asarray(self.codec.events_to_ids(value), np.int32), {}
            except ValueError as error:
                raise primers.PrimerError(f"primer: {error}") from None
        found = performances.performance_of(primers.read_primer_sequence(value),
                                            self.config.num_velocity_bins,
                                            self.config.steps_per_second)
        if found is None:
            raise primers.PrimerError("the primer has no performance (pitched notes of one "
                                      "program)")
        return np.asarray(self.codec.events_to_ids(found.events), np.int32), {}

    def to_note_sequence(self, ids, context, qpm):
        performance = performances.Performance(
            self.codec.ids_to_events(ids), num_velocity_bins=self.config.num_velocity_bins)
        sequence = performances.performance_to_note_sequence(performance)
        if qpm:
            sequence.tempos.add(qpm=qpm)
        return sequence

    def output_seconds(self, num_steps, qpm):
        return None   # events, not grid steps: the notes say how long it is

    def primer_seconds(self, ids, qpm):
        events = self.codec.ids_to_events(ids)
        shifts = events[events[:, 0] == performances.TIME_SHIFT, 1]
        return float(shifts.sum()) / self.config.steps_per_second

    def control_space(self):
        from musiczoo.controls import masks
        note_on, _ = self.codec.pitch_id_ranges()
        return masks.ControlSpace("performance", self.codec.num_classes, self.codec.num_classes,
                                  0, min_pitch=0, note_on_ids=note_on)

    def check_controls(self, controls):
        from musiczoo.controls import ControlError
        super().check_controls(controls)
        given = [name for name, value in (("key", controls.key),
                                          ("pitch_set", controls.pitch_set),
                                          ("pitch_range", controls.pitch_range),
                                          ("bars", controls.bars),
                                          ("density", controls.density))
                 if value is not None] + (["time_signature"] if
                                          controls.time_signature != (4, 4) else [])
        if given:
            raise ControlError(f"{self.config.name} takes --instrument and --qpm only for now "
                               f"(not {', '.join('--' + g for g in given)}): a performance has "
                               "no bars to plan in")

    def steps_per_bar(self, controls=None, steps_per_quarter=None):
        return None
