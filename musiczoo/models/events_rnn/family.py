"""What Melody RNN and Drums RNN share on top of the family skeleton (models/base.py):
the events-RNN network, its training options, its sampling functions and batched
generation in one compiled loop. A subclass only says how primers become event ids and
how generated ids become a NoteSequence.
"""
import numpy as np

from musiczoo import runtime
from musiczoo.models.base import BundledModel, check_generation, steps_from_bars

DEFAULT_NUM_STEPS = 128
MAX_STEPS = 1 << 16  # 4,096 bars of 16th notes


class EventsRNN(BundledModel):
    """A trained (or trainable) events RNN: `config`, `codec`, Keras `model`, `metadata`."""

    default_num_steps = DEFAULT_NUM_STEPS

    def build_model(self):
        runtime.configure_threads()
        from musiczoo.models.events_rnn.model import EventsRNNModel
        return EventsRNNModel(self.codec.input_size, self.codec.num_classes,
                              self.config.layer_sizes, self.config.dropout_rate,
                              self.config.attn_length, cell_type=self.config.cell_type,
                              name=self.family)

    # -- training -------------------------------------------------------------------------

    def training_options(self, max_length=None, seed=None):
        return {"input_size": self.codec.input_size, "no_event_id": int(self.codec.default_id),
                "learning_rate": self.config.learning_rate, "clip_norm": self.config.clip_norm,
                "max_length": max_length}

    # -- scoring --------------------------------------------------------------------------

    def score_ids(self, rows):
        """Teacher-forced scores of event-id sequences (codec.events_to_ids output): per
        row the log-likelihood of every event after the first, and next-event accuracy."""
        import tensorflow as tf
        scores = {"log_likelihood": [], "accuracy": []}
        for ids in rows:
            ids = np.asarray(ids, np.int64)
            inputs = self.codec.inputs_from_ids(ids)[:-1]
            labels = self.codec.labels_from_ids(ids)
            logits = self.model(tf.constant(inputs[None]), training=False)[0]
            log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float64)).numpy()
            scores["log_likelihood"].append(float(log_probs[np.arange(len(labels)),
                                                            labels].sum()))
            scores["accuracy"].append(float((log_probs.argmax(-1) == labels).mean()))
        return scores

    # -- generation -----------------------------------------------------------------------

    def sampling_functions(self, variant="default"):
        from musiczoo.models.events_rnn import tf_inputs
        return (self.model.step, tf_inputs.make_input_fn(self.codec),
                tf_inputs.make_resolve_fn(self.codec))

    def primer_ids(self, primer):
        """Subclasses: (ids int32 [P], context dict for decoding) from the user's primer:
        None, a list of events, a MIDI path or NoteSequence, or the CLI's
        {"primer_melody" | "primer_drums" | "primer_midi": text}."""
        raise NotImplementedError

    def to_note_sequence(self, ids, context, qpm):
        raise NotImplementedError

    def generate(self, num_outputs=1, num_steps=None, *, primer=None, temperature=1.0,
                 top_k=0, beam_size=1, branch_factor=1, steps_per_iteration=1, seed=None, qpm=None,
                 controls=None):
        """`num_outputs` NoteSequences of `num_steps` steps each (primer included, as in
        Magenta), sampled as one batch inside one compiled loop; `controls`
        (musiczoo.controls.Controls) hold for every output, beam search included."""
        import tensorflow as tf

        from musiczoo.controls import masks
        num_outputs, num_steps, qpm = check_generation(num_outputs, num_steps, qpm, MAX_STEPS)
        plan = None
        if controls is not None:
            self.check_controls(controls)
            steps_per_bar = self.steps_per_bar(controls)
            num_steps = steps_from_bars(controls, num_steps, steps_per_bar, MAX_STEPS)
            qpm = qpm or controls.qpm
        if primer is not None:
            ids, context = self.primer_ids(primer)
            shift = context.get("shift", 0)  # where the model's frame sits under the primer
        else:
            shift = self.home_shift(controls)
            ids, context = self.primer_ids(self.default_primer(
                controls.transposed(-shift) if controls is not None else None))
            context["shift"] = shift
        if controls is not None:
            controls = controls.transposed(-shift)  # obeyed in the model's frame
        num_steps = num_steps or self.default_num_steps
        if num_steps <= len(ids):
            raise ValueError(f"num_steps ({num_steps}) must be larger than the primer "
                             f"({len(ids)} steps): it counts the primer too")
        if controls is not None:
            plan = masks.plan(self.control_space(), controls, num_steps, len(ids),
                              steps_per_bar)
            plan.check_primer(ids, controls)
        primer_batch = tf.constant(np.tile(np.asarray(ids, np.int32), (num_outputs, 1)))
        generated, log_likelihood = self.sampler().sample(
            self.model.initial_state(num_outputs), primer_batch, num_steps - len(ids),
            temperature=temperature, top_k=top_k or 0, seed=seed, beam_size=beam_size,
            branch_factor=branch_factor, steps_per_iteration=steps_per_iteration,
            controls=plan.tensors() if plan else None)
        qpm = qpm or context.get("qpm") or 120.0
        seconds = self.output_seconds(num_steps, qpm)
        self.last_primer_seconds = self.primer_seconds(ids, qpm) if primer is not None else None
        sequences = []
        for row, score in zip(generated.numpy(), log_likelihood.numpy()):
            sequence = self.to_note_sequence(row, context, qpm)
            self.finish_output(sequence, controls, seconds)  # the whole length made
            sequence.sequence_metadata.title = f"{self.config.name} (log-likelihood {score:.2f})"
            sequences.append(sequence)
        return sequences

    def output_seconds(self, num_steps, qpm):
        """How long `num_steps` steps last (the file's length), or None."""
        return num_steps / self.config.steps_per_quarter * 60.0 / qpm

    def primer_seconds(self, ids, qpm):
        """How long the primer's events last."""
        return len(ids) / self.config.steps_per_quarter * 60.0 / qpm

    def default_primer(self, controls):
        """The primer when none is given (subclasses: one that fits the controls)."""
        return None

    def home_shift(self, controls):
        """Semitones from the model's frame to the output (0 unless a subclass moves)."""
        return 0

    def control_space(self):
        from musiczoo.controls import masks
        from musiczoo.pipelines.codecs.key_melody import KeyMelodyCodec
        from musiczoo.pipelines.codecs.lookback import LookbackCodec
        codec = self.codec
        if isinstance(codec, KeyMelodyCodec):
            base, distances = codec.note_range + 2, codec.lookback_distances
        elif isinstance(codec, LookbackCodec):
            base, distances = codec.base.num_classes, codec.lookback_distances
        else:
            base, distances = codec.num_classes, ()
        steps_per_bar = 4 * self.config.steps_per_quarter
        if self.family == "drums_rnn":
            return masks.ControlSpace("drums", base, codec.num_classes, steps_per_bar,
                                      repeat_distances=distances, default_id=codec.default_id)
        events = np.asarray(codec.ids_to_events(np.arange(base)), np.int64)
        return masks.ControlSpace("melody", base, codec.num_classes, steps_per_bar,
                                  base_events=events, repeat_distances=distances,
                                  default_id=int(codec.default_id))
