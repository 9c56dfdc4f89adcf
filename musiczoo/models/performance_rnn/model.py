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

    @property
    def conditioning_flags(self):
        return tuple(self.config.control_signals)

    def generate(self, num_outputs=1, num_steps=None, *, notes_per_second=None,
                 pitch_class_histogram=None, **options):
        """As EventsRNN.generate; conditioned configs hold `notes_per_second` and
        `pitch_class_histogram` (12 numbers, C first) constant over the piece, Magenta's
        defaults (15 notes per second, a flat histogram) where not given; the optional
        config turns conditioning off when neither is given."""
        from musiczoo.controls import ControlError
        if not self.config.control_signals:
            if notes_per_second is not None or pitch_class_histogram is not None:
                raise ControlError(f"--notes_per_second and --pitch_class_histogram apply to "
                                   f"the conditioned Performance RNN configs, not "
                                   f"{self.config.name}")
            return super().generate(num_outputs, num_steps, **options)
        given = {"notes_per_second": notes_per_second,
                 "pitch_class_histogram": pitch_class_histogram}
        unused = [k for k, v in given.items() if v is not None
                  and k not in self.config.control_signals]
        if unused:
            raise ControlError(f"{self.config.name} is conditioned on "
                               f"{', '.join(self.config.control_signals)}, not "
                               f"{', '.join(unused)}")
        if isinstance(pitch_class_histogram, str):
            pitch_class_histogram = primers.parse_literal(pitch_class_histogram,
                                                          "pitch_class_histogram")
        try:
            vector = self.codec.control_vector(
                notes_per_second, pitch_class_histogram,
                disabled=self.config.optional_conditioning and not any(
                    v is not None for v in given.values()))
        except ValueError as error:
            raise ControlError(str(error)) from None
        self._control_variable().assign(vector)
        return super().generate(num_outputs, num_steps, **options)

    def _control_variable(self):
        import tensorflow as tf
        if getattr(self, "_control", None) is None:
            self._control = tf.Variable(tf.zeros([self.codec.control_width]), trainable=False,
                                        name="performance_control")
        return self._control

    def sampling_functions(self, variant="default"):
        if not self.config.control_signals:
            return super().sampling_functions(variant)
        import tensorflow as tf

        from musiczoo.models.events_rnn import tf_inputs
        one_hot, control = tf_inputs.one_hot_input_fn(self.codec), self._control_variable()

        def input_fn(history, length):
            events = one_hot(history, length)
            # Magenta's ConditionalEventSequenceEncoderDecoder: [control, event].
            return tf.concat([tf.tile(control[None], [tf.shape(events)[0], 1]), events], -1)
        return self.model.step, input_fn, tf_inputs.make_resolve_fn(self.codec)

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
