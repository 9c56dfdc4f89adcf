"""What Melody RNN and Drums RNN share: config -> codec + Keras model, training, bundles,
and batched generation in one compiled loop. A family subclass only says how primers
become event ids and how generated ids become a NoteSequence.
"""
import pathlib

import numpy as np

from musiczoo import runtime
from musiczoo.models.base import BundledModel, check_generation
from musiczoo.pipelines.writers import write_midi_files

DEFAULT_NUM_STEPS = 128
MAX_STEPS = 1 << 16  # 4,096 bars of 16th notes


class EventsRNN(BundledModel):
    """A trained (or trainable) events RNN: `config`, `codec`, Keras `model`, `metadata`."""

    capabilities = ("generate",)

    def build_model(self):
        runtime.configure_threads()
        from musiczoo.models.events_rnn.model import EventsRNNModel
        return EventsRNNModel(self.codec.input_size, self.codec.num_classes,
                              self.config.layer_sizes, self.config.dropout_rate,
                              self.config.attn_length, name=self.family)

    # -- training -------------------------------------------------------------------------

    def train(self, dataset_dir, run_dir, *, num_training_steps=1000, eval_every=200,
              checkpoint_every=100, batch_size=None, seed=None, progress=True,
              training_data=None, max_length=None, overwrite=False):
        """Trains to `num_training_steps` (resuming from run_dir), then writes
        run_dir/<config>.mzb with the eval metrics. Returns the metrics dict."""
        from musiczoo import training
        info = self.check_dataset(dataset_dir)
        metrics = training.train_model(
            self.model, dataset_dir, run_dir, input_size=self.codec.input_size,
            no_event_id=int(self.codec.default_id),
            batch_size=batch_size or self.config.batch_size,
            learning_rate=self.config.learning_rate, clip_norm=self.config.clip_norm,
            num_training_steps=num_training_steps, eval_every=eval_every,
            checkpoint_every=checkpoint_every, seed=seed, progress=progress,
            max_length=max_length,
            identity=self.run_identity(), overwrite=overwrite)
        self.record_training(metrics, info, dataset_dir, training_data)
        self.save_bundle(self.run_bundle_path(run_dir))
        return metrics

    # -- generation -----------------------------------------------------------------------

    def primer_ids(self, primer):
        """Subclasses: (ids int32 [P], context dict for decoding) from the user's primer:
        None, a list of events, a MIDI path or NoteSequence, or the CLI's
        {"primer_melody" | "primer_drums" | "primer_midi": text}."""
        raise NotImplementedError

    def to_note_sequence(self, ids, context, qpm):
        raise NotImplementedError

    def generate(self, num_outputs=1, num_steps=None, *, primer=None, temperature=1.0,
                 top_k=0, beam_size=1, branch_factor=1, steps_per_iteration=1, seed=None, qpm=None):
        """`num_outputs` NoteSequences of `num_steps` steps each (primer included, as in
        Magenta), sampled as one batch inside one compiled loop."""
        import tensorflow as tf

        from musiczoo import sampling
        from musiczoo.models.events_rnn import tf_inputs

        num_outputs, num_steps, qpm = check_generation(num_outputs, num_steps, qpm, MAX_STEPS)
        ids, context = self.primer_ids(primer)
        num_steps = num_steps or DEFAULT_NUM_STEPS
        if num_steps <= len(ids):
            raise ValueError(f"num_steps ({num_steps}) must be larger than the primer "
                             f"({len(ids)} steps): it counts the primer too")
        primer_batch = tf.constant(np.tile(np.asarray(ids, np.int32), (num_outputs, 1)))
        if not hasattr(self, "_codec_fns"):
            # Built once per model: sampling caches its compiled loop by these callables.
            self._codec_fns = (tf_inputs.make_input_fn(self.codec),
                               tf_inputs.make_resolve_fn(self.codec))
        generated, log_likelihood = sampling.sample(
            self.model.step, self.model.initial_state(num_outputs), *self._codec_fns,
            primer_batch, num_steps - len(ids), temperature=temperature, top_k=top_k or 0,
            seed=seed,
            beam_size=beam_size, branch_factor=branch_factor,
            steps_per_iteration=steps_per_iteration)
        qpm = qpm or context.get("qpm") or 120.0
        seconds = num_steps / self.config.steps_per_quarter * 60.0 / qpm
        sequences = []
        for row, score in zip(generated.numpy(), log_likelihood.numpy()):
            sequence = self.to_note_sequence(row, context, qpm)
            sequence.total_time = max(sequence.total_time, seconds)  # the whole length made
            sequence.sequence_metadata.title = f"{self.config.name} (log-likelihood {score:.2f})"
            sequences.append(sequence)
        return sequences

    def generate_to_midi(self, output_dir, num_outputs=10, overwrite=False, **options):
        """Writes each generated sequence as <config>_<run>_<n>.mid (with `overwrite`:
        <config>_<n>.mid, replaced); returns the paths."""
        options = {k: v for k, v in options.items() if v is not None}
        primer = {k: options.pop(k) for k in ("primer_melody", "primer_drums", "primer_midi")
                  if k in options}
        if len(primer) > 1:
            raise ValueError(f"give one primer, not {', '.join(sorted(primer))}")
        sequences = self.generate(num_outputs, primer=primer or None, **options)
        return write_midi_files(sequences, output_dir, self.config.name,
                                overwrite=overwrite)
