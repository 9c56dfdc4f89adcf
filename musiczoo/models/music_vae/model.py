"""MusicVAE (Magenta's cat-mel_2bar_small, cat-drums_2bar_small, hierdec-mel_16bar):
train, sample from the prior, encode, decode, and interpolate between two inputs.

    vae = musiczoo.load_bundle("cat-mel_2bar_small")
    z, mu, sigma = vae.encode([melody_a, melody_b])       # event arrays, files or NoteSequences
    sequences = vae.decode(z, temperature=0.5, seed=1)
    path = vae.interpolate("a.mid", "b.mid", num_steps=5)

Decoding runs the whole batch through one compiled sampling loop (musiczoo.sampling).
"""
import pathlib

import numpy as np

from musiczoo import checks, runtime
from musiczoo.models.base import MAX_OUTPUTS, BundledModel, check_generation
from musiczoo.models.music_vae import inputs
from musiczoo.pipelines.extract import drums, melodies
from musiczoo.pipelines.writers import write_midi_files

DEFAULT_QPM = 120.0
SHUFFLE_BUFFER = 1 << 17


def slerp(a, b, t):
    """Spherical interpolation between vectors a and b (linear when they are parallel)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    cos = np.dot(a / np.linalg.norm(a), b / np.linalg.norm(b))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if np.sin(omega) < 1e-8:
        return (1.0 - t) * a + t * b
    return (np.sin((1.0 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


class MusicVAE(BundledModel):
    family = "music_vae"
    capabilities = ("generate", "encode", "decode", "interpolate")
    no_primer_hint = ("MusicVAE samples from its latent prior and takes no primer; to start "
                      "from music, use musiczoo_interpolate (or vae.encode / vae.decode in "
                      "Python)")
    beam_search = False

    def build_model(self):
        runtime.configure_threads()
        from musiczoo.models.music_vae.network import MusicVAENetwork
        return MusicVAENetwork(self.config, self.codec.num_classes, name=self.family)

    @property
    def window_steps(self):
        return self.config.max_seq_len

    # -- training -------------------------------------------------------------------------

    def training_options(self, max_length=None, seed=None):
        from musiczoo.models.music_vae import network
        if max_length:
            raise ValueError("max_length does not apply to MusicVAE: it trains on whole "
                             f"{self.window_steps}-step windows")
        config = self.config
        return {"input_size": self.codec.input_size, "no_event_id": int(self.codec.default_id),
                "learning_rate": network.DecayingLearningRate(
                    config.learning_rate, config.decay_rate, config.min_learning_rate),
                "clip_norm": config.grad_clip,
                "metrics_fn": network.make_metrics_fn(self.model, config),
                # Windows are small and a dataset lists them piece by piece, corpus by
                # corpus: shuffle across (nearly) all of them, not a 2,048-window stretch.
                "shuffle_buffer": SHUFFLE_BUFFER}

    # -- encoding -------------------------------------------------------------------------

    def window_ids(self, items, select="first"):
        """int32 [N, T] class ids from event arrays, MIDI/MusicXML/ABC paths or
        NoteSequences (a file gives the window `select` picks)."""
        rows = []
        for n, item in enumerate(items):
            if isinstance(item, (str, pathlib.Path)) or hasattr(item, "notes"):
                item, _ = inputs.choose_window(item, self.config, select)
            try:
                ids = self.codec.events_to_ids(item)
            except ValueError as error:
                raise inputs.InputError(f"input {n}: {error}") from None
            if len(ids) != self.window_steps:
                raise inputs.InputError(
                    f"input {n} is {len(ids)} steps long; {self.config.name} takes exactly "
                    f"{self.window_steps} ({self.config.slice_bars} bars of "
                    f"{self.config.steps_per_bar} steps)")
            rows.append(np.asarray(ids, np.int32))
        if not rows:
            raise inputs.InputError("nothing to encode: give at least one input")
        return np.stack(rows)

    def encode(self, items, select="first", seed=None):
        """(z, mu, sigma) numpy [N, z_size]: z drawn from the posterior N(mu, sigma)."""
        import tensorflow as tf
        mu, sigma = self.model.encode(tf.constant(self.window_ids(items, select)))
        mu, sigma = mu.numpy(), sigma.numpy()
        noise = np.random.default_rng(seed).standard_normal(mu.shape).astype(np.float32)
        return mu + sigma * noise, mu, sigma

    def score_ids(self, rows):
        """Per window (class ids [T]): the posterior mean's norm, the teacher-forced
        log-likelihood of the window given z = mu, and the greedy reconstruction accuracy."""
        import tensorflow as tf
        ids = np.asarray(rows, np.int32)
        mu, _ = self.model.encode(tf.constant(ids))
        logits, _, _ = self.model(tf.constant(ids), sample_z=False)
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float64)).numpy()
        chosen = np.take_along_axis(log_probs, ids[..., None].astype(np.int64), -1)[..., 0]
        rebuilt = self.decode_ids(mu.numpy(), top_k=1, seed=0)
        return {"mu_norm": [float(v) for v in np.linalg.norm(mu.numpy(), axis=-1)],
                "log_likelihood": [float(v) for v in chosen.sum(-1)],
                "reconstruction_accuracy": [float(v) for v in (rebuilt == ids).mean(-1)]}

    # -- decoding -------------------------------------------------------------------------

    def sampling_functions(self, variant="default"):
        import tensorflow as tf
        classes = self.codec.num_classes

        def input_fn(history, length):
            # The start symbol `classes` one-hots to zeros: step 0 sees no event.
            return tf.one_hot(history[:, length - 1], classes)

        def resolve_fn(labels, history, length):
            return labels

        return self.model.decoder.step, input_fn, resolve_fn

    def decode_ids(self, z, temperature=1.0, seed=None, top_k=0, plan=None):
        """Class ids int32 [N, T] decoded from latent vectors [N, z_size], one compiled loop
        for the whole batch (top_k=1: greedy)."""
        import tensorflow as tf

        from musiczoo import sampling
        z = np.asarray(z, np.float32)
        if z.ndim != 2 or z.shape[1] != self.config.z_size:
            raise ValueError(f"z must be [N, {self.config.z_size}], got shape {z.shape}")
        start = tf.fill([len(z), 1], self.codec.num_classes)
        ids, _ = self.sampler().sample(
            self.model.decoder.initial_sampling_state(tf.constant(z)), start,
            self.window_steps, temperature=temperature, top_k=top_k, seed=seed,
            controls=plan.tensors() if plan is not None else None)
        return ids.numpy()[:, 1:]

    def control_space(self):
        from musiczoo.controls import masks
        base = self.codec.num_classes
        if self.config.representation == "drums":
            return masks.ControlSpace("drums", base, base, self.config.steps_per_bar,
                                      first_position=1)
        events = np.asarray(self.codec.ids_to_events(np.arange(base)), np.int64)
        return masks.ControlSpace("melody", base, base, self.config.steps_per_bar,
                                  base_events=events, first_position=1)

    def generate_controlled(self, num_outputs, controls, temperature=1.0, seed=None,
                            qpm=None, top_k=0):
        """Sequences of `controls.bars` bars (a multiple of the window; default one window):
        consecutive windows decode neighbouring latent points (z' = 0.8 z + 0.6 noise, which
        keeps z ~ N(0, I)), so a longer piece develops instead of jumping; the tonic ending
        applies to the last window only."""
        import dataclasses

        from musiczoo.controls import ControlError, masks
        self.check_controls(controls)
        steps_per_bar = self.steps_per_bar(controls)
        bars = controls.bars or self.config.slice_bars
        if bars % self.config.slice_bars:
            raise ControlError(f"{self.config.name} makes {self.config.slice_bars}-bar windows: "
                               f"--bars must be a multiple of {self.config.slice_bars}, got {bars}")
        windows = bars // self.config.slice_bars
        space, total = self.control_space(), self.window_steps + 1
        last = masks.plan(space, controls, total, 1, steps_per_bar)
        inner = (masks.plan(space, dataclasses.replace(controls, end_on_tonic=False), total, 1,
                            steps_per_bar) if windows > 1 else last)
        rng = np.random.default_rng(seed)
        z = rng.standard_normal((num_outputs, self.config.z_size)).astype(np.float32)
        parts = []
        for window in range(windows):
            decode_seed = None if seed is None else int(rng.integers(2 ** 62))
            code = self.shift(z, controls.attributes) if controls.attributes else z
            parts.append(self.decode_ids(code, temperature, decode_seed, top_k,
                                         last if window == windows - 1 else inner))
            z = (0.8 * z + 0.6 * rng.standard_normal(z.shape)).astype(np.float32)
        qpm = qpm or controls.qpm or DEFAULT_QPM
        sequences = []
        for row in np.concatenate(parts, axis=1):
            sequence = self.to_note_sequence(row, qpm)
            sequences.append(self.finish_output(sequence, controls))
        return sequences

    def to_note_sequence(self, ids, qpm=DEFAULT_QPM):
        """A NoteSequence lasting the whole window (a loop: it ends on its bar line)."""
        events = self.codec.ids_to_events(ids)
        steps = self.config.steps_per_quarter
        if self.config.representation == "melody":
            sequence = melodies.melody_to_note_sequence(events, steps, qpm)
        else:
            track = drums.DrumTrack(list(events), steps_per_bar=self.config.steps_per_bar,
                                    steps_per_quarter=steps)
            sequence = drums.drum_track_to_note_sequence(track, qpm=qpm)
        sequence.total_time = max(sequence.total_time, len(ids) / steps * 60.0 / qpm)
        return sequence

    def decode(self, z, temperature=1.0, seed=None, top_k=0, qpm=DEFAULT_QPM):
        """NoteSequences decoded from latent vectors [N, z_size]."""
        return [self.to_note_sequence(row, qpm)
                for row in self.decode_ids(z, temperature, seed, top_k)]

    def sample(self, num_outputs=1, temperature=1.0, seed=None, qpm=DEFAULT_QPM, top_k=0):
        """Sequences decoded from z ~ N(0, I) (seeded: same seed, same output)."""
        num_outputs, _, qpm = check_generation(num_outputs, None, qpm)
        rng = np.random.default_rng(seed)
        z = rng.standard_normal((num_outputs, self.config.z_size)).astype(np.float32)
        decode_seed = None if seed is None else int(rng.integers(2 ** 62))
        return self.decode(z, temperature, decode_seed, top_k, qpm=qpm)

    def generate(self, num_outputs=1, num_steps=None, *, primer=None, temperature=1.0,
                 seed=None, qpm=None, top_k=0, controls=None):
        """The common family verb: `sample` (num_steps is the window, or None); with
        `controls`, `generate_controlled`."""
        if primer is not None:
            raise ValueError(f"{self.config.name}: {self.no_primer_hint}")
        num_outputs, num_steps, qpm = check_generation(num_outputs, num_steps, qpm)
        if controls is not None:
            if num_steps not in (None, self.window_steps):
                raise ValueError(f"{self.config.name}: give --bars (a multiple of "
                                 f"{self.config.slice_bars}), not num_steps")
            return self.generate_controlled(num_outputs, controls, temperature, seed, qpm,
                                            top_k or 0)
        qpm = qpm or DEFAULT_QPM
        if num_steps not in (None, self.window_steps):
            raise ValueError(f"{self.config.name} always makes {self.window_steps} steps "
                             f"({self.config.slice_bars} bars); got num_steps={num_steps}")
        return self.sample(num_outputs, temperature, seed, qpm, top_k or 0)

    @property
    def attribute_vectors(self):
        """{attribute: {"vector": [...], ...}} stored in the bundle (may be empty)."""
        vectors = self.metadata.get("attribute_vectors")
        return vectors if isinstance(vectors, dict) else {}

    def shift(self, z, attribute, amount=None):
        """z [N, z_size] moved along attribute vectors: `shift(z, "note_density", 1.5)` or
        `shift(z, (("note_density", 1.5), ("register", -1.0)))`."""
        from musiczoo.models.music_vae import attributes
        moves = ((attributes.ALIASES.get(attribute, attribute), float(amount)),) \
            if amount is not None else tuple(attribute)
        return attributes.shift(self.attribute_vectors, z, moves)

    def vary(self, source, controls, amount=0.3, seed=None, temperature=1.0, qpm=None):
        """A piece like `source` (a NoteSequence of whole windows): each window encoded,
        its posterior mean moved by `amount` standard deviations at random, decoded under
        the controls (the tonic cadence in the last window). A window the encoder cannot
        read (silence) starts from the prior."""
        import dataclasses

        from musiczoo.controls import masks
        self.check_controls(controls)
        steps_per_bar = self.steps_per_bar(controls)
        windows = max(1, (controls.bars or self.config.slice_bars) // self.config.slice_bars)
        rng = np.random.default_rng(seed)
        space, total = self.control_space(), self.window_steps + 1
        last = masks.plan(space, controls, total, 1, steps_per_bar)
        inner = masks.plan(space, dataclasses.replace(controls, end_on_tonic=False), total, 1,
                           steps_per_bar)
        parts = []
        for window in range(windows):
            try:
                _, mu, _ = self.encode([source], select=f"bar={window * self.config.slice_bars}")
                z = mu[0]
            except inputs.InputError:
                z = rng.standard_normal(self.config.z_size)
            z = (z + amount * rng.standard_normal(z.shape)).astype(np.float32)[None]
            decode_seed = None if seed is None else int(rng.integers(2 ** 62))
            parts.append(self.decode_ids(z, temperature, decode_seed, 0,
                                         last if window == windows - 1 else inner)[0])
        sequence = self.to_note_sequence(np.concatenate(parts),
                                         qpm or controls.qpm or DEFAULT_QPM)
        return self.finish_output(sequence, controls)

    def interpolation_path(self, start, end, num_steps=5, select="first"):
        """Latent vectors [num_steps, z_size]: slerp between the two inputs' posterior means
        (Magenta interpolates between mu), ends included."""
        num_steps = checks.integer("num_outputs (points on the path, ends included)",
                                   num_steps, 2, MAX_OUTPUTS)
        _, mu, _ = self.encode([start, end], select)
        return np.stack([slerp(mu[0], mu[1], t)
                         for t in np.linspace(0.0, 1.0, num_steps)]).astype(np.float32)

    def interpolate(self, start, end, num_steps=5, temperature=0.5, seed=None, select="first",
                    qpm=DEFAULT_QPM):
        """The `num_steps` sequences along the path, reconstructions of the inputs at the
        ends."""
        z = self.interpolation_path(start, end, num_steps, select)
        return self.decode(z, temperature, seed, qpm=qpm)

    # -- entry points ---------------------------------------------------------------------

    def interpolate_to_midi(self, input_midi_1, input_midi_2, output_dir, num_outputs=5,
                            temperature=0.5, seed=None, select="first", qpm=None,
                            overwrite=False):
        """Writes each step of the path as <config>_interp_<run>_<n>.mid and all of them,
        one after the other, as <config>_interp_<run>_all.mid (with `overwrite`: without
        the run tag, replaced); returns the paths."""
        _, _, qpm = check_generation(1, None, qpm)
        sequences = self.interpolate(input_midi_1, input_midi_2, num_outputs, temperature,
                                     seed, select, qpm or DEFAULT_QPM)
        whole = concatenate(sequences, self.window_steps, self.config.steps_per_quarter)
        suffixes = [f"{n:03d}" for n in range(1, len(sequences) + 1)] + ["all"]
        return write_midi_files(sequences + [whole], output_dir,
                                f"{self.config.name}_interp", suffixes, overwrite)


def concatenate(sequences, window_steps, steps_per_quarter):
    """One NoteSequence playing `sequences` back to back, each taking one window."""
    from note_seq.protobuf import music_pb2
    whole = music_pb2.NoteSequence()
    whole.CopyFrom(sequences[0])
    del whole.notes[:]
    qpm = sequences[0].tempos[0].qpm if sequences[0].tempos else DEFAULT_QPM
    seconds = window_steps / steps_per_quarter * 60.0 / qpm
    for n, sequence in enumerate(sequences):
        for note in sequence.notes:
            copy = whole.notes.add()
            copy.CopyFrom(note)
            copy.start_time += n * seconds
            copy.end_time += n * seconds
    whole.total_time = len(sequences) * seconds
    return whole
