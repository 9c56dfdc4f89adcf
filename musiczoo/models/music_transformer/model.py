"""Music Transformer: train on chorale grids or performance events, sample with a
key/value cache inside one compiled loop, continue a primer MIDI.

    model = musiczoo.load_bundle("chorale_transformer")
    sequences = model.generate(2, num_steps=64, primer="bwv66.6.mid", temperature=0.9,
                               top_k=20, seed=1)

Steps are grid steps (16th notes, 4 tokens each) for chorales and events for
performances, counted with the primer, as the other families count them.
"""
import logging

import numpy as np

from musiczoo import runtime
from musiczoo.models.base import BundledModel, check_generation
from musiczoo.models.events_rnn import primers
from musiczoo.pipelines.extract import chorales, notearrays, performances

log = logging.getLogger("musiczoo")
DEFAULT_STEPS = {"chorale": 128, "performance": 1024}
# Generation may run past the trained context (relative attention allows it), up to this
# many contexts (or MAX_TOKENS for small models): the key/value cache grows with every token.
MAX_CONTEXTS = 16
MAX_TOKENS = 16384


class MusicTransformer(BundledModel):
    family = "music_transformer"
    representation = None  # a subclass for one representation sets it
    primer_flags = ("primer_midi",)
    no_primer_hint = "continue a MIDI file with --primer_midi"

    def __new__(cls, config, *args, **kwargs):
        # One family, one entry point: multi-instrument configs get their own class.
        # (The package imports multitrack.py, so its subclass is always registered here.)
        if cls is MusicTransformer:
            for subclass in cls.__subclasses__():
                if subclass.representation == getattr(config, "representation", None):
                    cls = subclass
        return super().__new__(cls)

    def build_model(self):
        runtime.configure_threads()
        from musiczoo.models.music_transformer.network import MusicTransformerNetwork
        return MusicTransformerNetwork(self.config, self.codec.num_classes,
                                       self.codec.num_reserved_ids, name=self.family)

    @property
    def context(self):
        """The longest token sequence the model was trained on (start symbol included)."""
        return self.config.max_length

    # -- training -------------------------------------------------------------------------

    def metrics_fn(self, seed=None):
        import tensorflow as tf

        from musiczoo import training
        from musiczoo.models.music_transformer.network import transpose_tokens
        ranges = self.codec.pitch_id_ranges()
        shift = self.config.transpose_range

        def metrics(inputs, lengths, labels, training_, step):
            ids = tf.cast(inputs[..., 0], tf.int32)
            labels = tf.cast(labels, tf.int32)
            if training_ and shift and ranges:
                ids, labels = transpose_tokens(ids, labels, lengths, ranges, shift, seed)
            return training.masked_metrics(tf, self.model(ids, training=training_), labels,
                                            lengths, int(self.codec.default_id))
        return metrics

    def training_options(self, max_length=None, seed=None):
        """Random crops of `max_length` tokens (default: the config's context), starting on
        a step (a chorale crop opens with a soprano) behind the start symbol, as generation
        starts, transposed by up to +-transpose_range; eval on consecutive chunks of the
        held-out pieces, opened the same way."""
        from musiczoo.models.music_transformer.network import WarmupRsqrtSchedule
        config = self.config
        length = max_length or config.max_length
        return {"input_size": 1, "no_event_id": int(self.codec.default_id),
                "learning_rate": WarmupRsqrtSchedule(config.learning_rate,
                                                     config.warmup_steps),
                "clip_norm": config.clip_norm, "max_length": length,
                "eval_max_length": length, "metrics_fn": self.metrics_fn(seed),
                "crop_align": config.tokens_per_step,
                "crop_start_input": [float(self.codec.start_id)]}

    # -- primers and outputs --------------------------------------------------------------

    def primer_tokens(self, primer):
        """(tokens int32 [P] starting with the start symbol, context dict)."""
        kind, value = primers.unpack(primer, ("events",))
        context = {}
        if kind == "midi":
            sequence = primers.read_primer_sequence(value)
            name = str(value) if not hasattr(value, "notes") else "primer"
            events, context = self.events_from_sequence(sequence, name)
        elif kind is None:
            events = np.zeros((0, 4), np.int32) if self.config.representation == "chorale" \
                else np.zeros((0, 2), np.int32)
        else:
            events, name = np.asarray(value), "primer"
        try:
            tokens = self.codec.tokens(events)
        except ValueError as error:
            raise primers.PrimerError(f"{name}: {error} (out of {self.config.name}'s "
                                      "vocabulary)") from None
        if len(tokens) > self.context:
            raise primers.PrimerError(
                f"the primer is {len(tokens) - 1} tokens long ({self._describe(len(tokens) - 1)}); "
                f"{self.config.name}'s context is {self.context} tokens: give a shorter primer")
        return tokens.astype(np.int32), context

    def _describe(self, tokens):
        if self.config.representation == "chorale":
            return f"{tokens // 4} sixteenth-note steps of 4 voices"
        return f"{tokens} performance events"

    def events_from_sequence(self, sequence, name):
        qpm = sequence.tempos[0].qpm if sequence.tempos else None
        if self.config.representation == "chorale":
            try:
                grid = chorales.voice_grid(notearrays.from_note_sequence(sequence),
                                           self.config.steps_per_quarter,
                                           order=chorales.named_voice_order(sequence))
            except chorales.VoicesError as error:
                raise primers.PrimerError(str(error)) from None
            return grid, {"qpm": qpm}
        found = performances.performance_of(sequence, self.config.num_velocity_bins)
        if found is None:
            raise primers.PrimerError(f"{name}: no performance (pitched notes of one "
                                      "program) in the primer")
        return found.events, {"qpm": qpm}

    def to_note_sequence(self, ids, qpm=None):
        """A NoteSequence from generated class ids (start symbol removed)."""
        ids = np.asarray(ids)
        if self.config.representation == "chorale":
            grid = self.codec.ids_to_events(ids)
            return chorales.grid_to_note_sequence(grid, self.config.steps_per_quarter,
                                                  qpm or chorales.DEFAULT_QPM)
        ids = ids[ids >= self.codec.num_reserved_ids]
        performance = performances.Performance(self.codec.ids_to_events(ids),
                                               num_velocity_bins=self.config.num_velocity_bins)
        return performances.performance_to_note_sequence(performance)

    # -- scoring --------------------------------------------------------------------------

    def score_ids(self, rows):
        """Teacher-forced scores of token rows (start symbol first): per row the
        log-likelihood of every token after the start, and next-token accuracy."""
        import tensorflow as tf
        scores = {"log_likelihood": [], "accuracy": []}
        for tokens in rows:
            tokens = np.asarray(tokens, np.int64)
            logits = self.model(tf.constant(tokens[None, :-1]), training=False)[0]
            log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float64)).numpy()
            labels = tokens[1:]
            scores["log_likelihood"].append(float(log_probs[np.arange(len(labels)),
                                                            labels].sum()))
            scores["accuracy"].append(float((log_probs.argmax(-1) == labels).mean()))
        return scores

    # -- generation -----------------------------------------------------------------------

    def sampling_functions(self, variant="cached"):
        """(step_fn, input_fn, resolve_fn): the key/value-cached step, or (variant
        "uncached") the whole prefix recomputed every step."""
        step = self.model.uncached_step if variant == "uncached" else self.model.step

        def input_fn(history, length):
            return history[:, length - 1:length]

        def resolve_fn(labels, history, length):
            return labels

        return step, input_fn, resolve_fn

    def generate_tokens(self, primer_tokens, num_tokens, *, temperature=1.0, top_k=0,
                        seed=None, beam_size=1, branch_factor=1, steps_per_iteration=1,
                        cached=True, plan=None):
        """int32 [B, P + num_tokens] from primer tokens [B, P] (start symbol first), one
        compiled loop. cached=False recomputes the whole prefix at every step."""
        import tensorflow as tf

        primer_tokens = tf.constant(np.asarray(primer_tokens, np.int32))
        batch = int(primer_tokens.shape[0])
        state = (self.model.initial_state(batch) if cached
                 else self.model.initial_uncached_state(batch))
        ids, scores = self.sampler("cached" if cached else "uncached").sample(
            state, primer_tokens, num_tokens,
            temperature=temperature, top_k=top_k, seed=seed, beam_size=beam_size,
            branch_factor=branch_factor, steps_per_iteration=steps_per_iteration,
            controls=plan.tensors() if plan is not None else None)
        return ids.numpy(), scores.numpy()

    # -- controls -------------------------------------------------------------------------

    @property
    def meters(self):
        return ((4, 4), (3, 4), (2, 4)) if self.config.representation == "chorale" else ()

    def control_space(self):
        from musiczoo.controls import masks
        codec = self.codec
        if self.config.representation == "chorale":
            return masks.ControlSpace("chorale", codec.num_classes, codec.num_classes,
                                      4 * self.config.steps_per_quarter,
                                      min_pitch=self.config.min_pitch, first_position=1)
        note_on, _ = codec.pitch_id_ranges()
        return masks.ControlSpace("performance", codec.num_classes, codec.num_classes, 0,
                                  min_pitch=self.config.min_pitch, note_on_ids=note_on,
                                  first_position=1)

    def check_controls(self, controls):
        from musiczoo.controls import ControlError
        super().check_controls(controls)
        if self.config.representation == "performance":
            if controls.bars is not None or controls.time_signature != (4, 4):
                raise ControlError(f"{self.config.name} writes performance events in "
                                   "seconds, without bars or meter: give num_steps (events)")
            if controls.wants_tonic_ending:
                raise ControlError(f"{self.config.name} cannot plan its ending in bars: "
                                   "give --end_on_tonic=false with --key")
            if controls.density is not None:
                raise ControlError(f"--density does not apply to {self.config.name}")
        elif controls.density is not None:
            raise ControlError("--density does not apply to chorales (every voice sings at "
                               "every step)")

    def controlled_length(self, controls, num_steps):
        """(num_steps, soprano classes or None) for chorale or performance controls."""
        from musiczoo.controls import ControlError
        from musiczoo.models.base import steps_from_bars
        self.check_controls(controls)
        if self.config.representation != "chorale":
            return num_steps, None
        steps_per_bar = self.steps_per_bar(controls)
        soprano = None
        if controls.harmonize is not None:
            soprano = self.soprano_classes(controls)
            if controls.bars is None and num_steps is None:  # the melody's length, in bars
                num_steps = -(-len(soprano) // steps_per_bar) * steps_per_bar
        num_steps = steps_from_bars(controls, num_steps, steps_per_bar)
        if controls.bars is not None and num_steps * 4 > self.context:
            raise ControlError(f"{controls.bars} bars are {num_steps * 4} tokens; "
                               f"{self.config.name}'s context is {self.context} tokens "
                               f"({self.context // (4 * steps_per_bar)} bars): ask for fewer "
                               "bars")
        if soprano is not None and len(soprano) > (num_steps or 0):
            raise ControlError(f"the melody to harmonize is {len(soprano)} steps, longer than "
                               f"the {num_steps} steps asked for")
        return num_steps, soprano

    def soprano_classes(self, controls):
        """The melody to harmonize as a soprano class per 16th-note step (0: silence),
        checked against the codec's range and the pitch controls."""
        from musiczoo.controls import ControlError
        from musiczoo.pipelines.extract import melodies
        sequence = primers.read_primer_sequence(controls.harmonize)
        quantized = primers.quantized_primer(sequence, self.config.steps_per_quarter,
                                             str(controls.harmonize))
        found = melodies.extract_melodies(quantized, min_bars=0, min_unique_pitches=1,
                                          gap_bars=float("inf"))
        if not found:
            raise ControlError(f"{controls.harmonize}: no melody to harmonize in it")
        events = max(found, key=len).events
        classes, pitch = [], None
        for event in events:
            if event >= 0:
                pitch = int(event)
            elif event == -1:
                pitch = None
            classes.append(0 if pitch is None else pitch - self.config.min_pitch + 1)
            if pitch is not None and not (self.config.min_pitch <= pitch <= self.config.max_pitch):
                raise ControlError(f"{controls.harmonize}: melody pitch {pitch} is outside "
                                   f"the soprano's range {self.config.min_pitch}.."
                                   f"{self.config.max_pitch}")
            if pitch is not None and not controls.allows_pitch(pitch):
                raise ControlError(f"{controls.harmonize}: melody pitch {pitch} breaks "
                                   f"{controls.describe_pitches()}")
        last = next((e for e in reversed(events) if e >= 0), None)
        if controls.wants_tonic_ending and last is not None and last % 12 != controls.tonic:
            from musiczoo.controls import theory
            raise ControlError(f"{controls.harmonize}: the melody ends on "
                               f"{theory.SHARP_NAMES[last % 12]}, not the tonic of "
                               f"{theory.key_name(*controls.key)}: give --end_on_tonic=false "
                               "to harmonize it as it is")
        return np.asarray(classes, np.int64)

    def generate(self, num_outputs=1, num_steps=None, *, primer=None, temperature=1.0,
                 top_k=0, seed=None, qpm=None, beam_size=1, branch_factor=1,
                 steps_per_iteration=1, controls=None):
        """`num_outputs` NoteSequences of `num_steps` steps (grid steps or events, primer
        included), sampled as one batch with the key/value cache; `controls` hold for
        every output (chorales: `controls.harmonize` keeps a given soprano note for note)."""
        per_step = self.config.tokens_per_step
        num_outputs, num_steps, qpm = check_generation(
            num_outputs, num_steps, qpm,
            max(MAX_CONTEXTS * self.context, MAX_TOKENS) // per_step)
        tokens, context = self.primer_tokens(primer)
        soprano = None
        if controls is not None:
            num_steps, soprano = self.controlled_length(controls, num_steps)
            qpm = qpm or controls.qpm
        num_steps = num_steps or DEFAULT_STEPS[self.config.representation]
        wanted = num_steps * per_step + 1
        if wanted <= len(tokens):
            raise ValueError(f"num_steps ({num_steps}) must be larger than the primer "
                             f"({(len(tokens) - 1) // per_step} steps): it counts the primer too")
        if wanted - 1 > self.context:  # the last token is drawn, never fed back
            log.info("generating %d tokens, beyond the %d-token context %s was trained on",
                     wanted - 1, self.context, self.config.name)
        plan = None
        if controls is not None:
            from musiczoo.controls import masks
            plan = masks.plan(self.control_space(), controls, wanted, len(tokens),
                              self.steps_per_bar(controls) if per_step > 1 else None,
                              soprano=soprano)
            plan.check_primer(tokens, controls)
        ids, scores = self.generate_tokens(
            np.tile(tokens, (num_outputs, 1)), wanted - len(tokens), temperature=temperature,
            top_k=top_k or 0, seed=seed, beam_size=beam_size, branch_factor=branch_factor,
            steps_per_iteration=steps_per_iteration, plan=plan)
        self.last_primer_seconds = None
        if primer is not None and len(tokens) > 1:
            head = self.to_note_sequence(ids[0][1:len(tokens)], qpm or context.get("qpm"))
            self.last_primer_seconds = head.total_time
        sequences = []
        for row, score in zip(ids, scores):
            sequence = self.to_note_sequence(row[1:], qpm or context.get("qpm"))
            self.finish_output(sequence, controls)
            sequence.sequence_metadata.title = f"{self.config.name} (log-likelihood {score:.2f})"
            sequences.append(sequence)
        return sequences
