"""The multi-instrument Music Transformer: one event stream over many instruments,
conditioned on a style and on the instruments that play.

    model = musiczoo.load_bundle("multitrack_transformer")
    controls = Controls.parse(style="bossa_nova", instruments="piano,bass,drums", bars=8,
                              qpm=110)
    sequences = model.generate(3, controls=controls, seed=1)

Every token row starts with the start symbol, then the conditioning prefix (STYLE, then an
INSTRUMENT token for each instrument that plays), then the events (a primer's, then the
sampled ones). The sampling loop's mask forbids, after the prefix, the prefix classes and
every note class of an instrument not asked for: the instrument control holds by
construction, and is measured on the output anyway (controls.compliance). Time is on a
beat grid, so bars and tempo are exact: generation runs until every output has its bars
(in rounds of the same compiled loop, each continuing the last) and is cut at the bar line.
"""
import dataclasses
import logging

import numpy as np

from musiczoo.models.music_transformer.model import MAX_TOKENS, MusicTransformer
from musiczoo.pipelines.extract import multitrack as mt
from musiczoo.pipelines.extract import notearrays

log = logging.getLogger("musiczoo")
DEFAULT_BARS = 8
DEFAULT_INSTRUMENTS = ("piano", "bass", "drums")
DEFAULT_TOKENS_PER_BAR = 120
# Every meter up to 16 beats over 1..16: a bar is a whole number of 12-per-quarter steps.
METERS = tuple((n, d) for d in (4, 2, 8, 1, 16) for n in range(1, 17))


def _most_common(histogram, default=None):
    if not histogram:
        return default
    return max(histogram.items(), key=lambda item: (item[1], item[0]))[0]


def style_profile(statistics, styles):
    """Per style, from a dataset's statistics (the extractor's histograms): pieces, the
    usual tempo, meter, instrument set, tokens per bar and GM program of each instrument.
    Stored in the bundle; generation's defaults for a style come from it."""
    histograms = (statistics or {}).get("histograms", {})
    profile = {}
    for style in styles:
        qpms = histograms.get(f"multitrack_qpm/{style}", {})
        if not qpms:
            continue
        tempos = np.repeat([float(q) for q in qpms], [int(c) for c in qpms.values()])
        per_bar = histograms.get(f"multitrack_tokens_per_bar/{style}", {})
        tokens = np.repeat([float(t) for t in per_bar], [int(c) for c in per_bar.values()]) \
            if per_bar else np.asarray([DEFAULT_TOKENS_PER_BAR])
        programs = {}
        for instrument in range(mt.DRUMS):
            found = histograms.get(f"multitrack_program/{style}/{instrument}", {})
            if found:
                programs[str(instrument)] = int(_most_common(found))
        profile[style] = {
            "pieces": int(sum(int(c) for c in qpms.values())),
            "qpm": float(np.median(tempos)),
            "time_signature": _most_common(histograms.get(f"multitrack_meter/{style}", {}),
                                           "4/4"),
            "instruments": _most_common(histograms.get(f"multitrack_instruments/{style}", {}),
                                        ""),
            "tokens_per_bar": float(np.percentile(tokens, 90)),
            "programs": programs}
    return profile


class MultitrackTransformer(MusicTransformer):
    representation = "multitrack"
    no_primer_hint = "continue a multi-track MIDI file with --primer_midi"

    @property
    def meters(self):
        return METERS

    @property
    def styles(self):
        return self.codec.base.styles

    @property
    def profile(self):
        return self.metadata.get("style_profile") or {}

    def record_training(self, metrics, info, dataset_dir, training_data=None):
        super().record_training(metrics, info, dataset_dir, training_data)
        self.metadata["style_profile"] = style_profile(info.get("statistics"), self.styles)

    def check_dataset(self, dataset_dir):
        """Also refuses windows longer than the context: a random crop of one would lose
        its conditioning prefix."""
        info = super().check_dataset(dataset_dir)
        longest = (info.get("extractor") or {}).get("max_events")
        if longest is not None and int(longest) > self.config.max_length:
            raise ValueError(f"{dataset_dir} holds windows of up to {longest} events, longer "
                             f"than {self.config.name}'s context ({self.config.max_length}): "
                             "rebuild it with the same --hparams as the training")
        return info

    # -- primers and outputs --------------------------------------------------------------

    def events_from_sequence(self, sequence, name):
        from musiczoo.models.events_rnn import primers
        arrays = notearrays.from_note_sequence(sequence)
        parts = notearrays.split_on_time_changes(arrays)
        if not parts:
            raise primers.PrimerError(f"{name}: no notes in the primer")
        try:
            quantized = notearrays.quantize(parts[0], self.config.steps_per_quarter)
        except notearrays.QuantizeError as error:
            raise primers.PrimerError(f"{name}: {error}") from None
        notes = mt.quantize_multitrack(quantized, self.config.num_velocity_bins,
                                       self.config.min_pitch, self.config.max_pitch)
        if not len(notes):
            raise primers.PrimerError(f"{name}: no notes in the codec's range in the primer")
        events = mt.notes_to_events(notes, self.config.max_shift_steps)
        return events, {"qpm": quantized.qpm, "time_signature": notes.time_signature,
                        "instruments": notes.instruments,
                        "steps": int(notes.end_step.max())}

    def _describe(self, tokens):
        return f"{tokens} multi-instrument events"

    def to_note_sequence(self, ids, qpm=None, time_signature=(4, 4), programs=None,
                         max_steps=None):
        """A multi-track NoteSequence from class ids (start symbol removed; the prefix may
        lead). `max_steps` cuts at that grid step (a bar line)."""
        events = self.codec.ids_to_events(np.asarray(ids))
        notes = mt.events_to_notes(events, self.config.steps_per_quarter,
                                   self.config.num_velocity_bins, qpm or 120.0, time_signature)
        if max_steps is not None:
            notes = mt.window_notes(notes, 0, int(max_steps))
        sequence = mt.notes_to_note_sequence(notes, self.config.num_velocity_bins, programs)
        if max_steps is not None:
            sequence.total_time = max_steps * 60.0 / ((qpm or 120.0)
                                                      * self.config.steps_per_quarter)
        return sequence

    # -- controls -------------------------------------------------------------------------

    def control_space(self):
        from musiczoo.controls import masks
        codec = self.codec.base
        ranges = []
        for instrument in range(mt.NUM_INSTRUMENTS):
            own = [codec.note_on_ids(instrument)]
            if instrument != mt.DRUMS:
                own.append(codec.note_off_ids(instrument))
            ranges.append(tuple(own))
        prefix = (codec.offsets["style"], codec.offsets["instrument"] + mt.NUM_INSTRUMENTS - 1)
        return masks.ControlSpace("multitrack", codec.num_classes, codec.num_classes,
                                  4 * self.config.steps_per_quarter,
                                  min_pitch=self.config.min_pitch, first_position=1,
                                  instrument_ids=tuple(ranges), prefix_ids=prefix)

    def check_controls(self, controls):
        from musiczoo.controls import ControlError
        super(MusicTransformer, self).check_controls(controls)
        name = self.config.name
        if controls.style is not None and controls.style not in self.styles:
            raise ControlError(f"{name} knows the styles {', '.join(self.styles[1:])}; "
                               f"not {controls.style!r}")
        if controls.instrument is not None:
            raise ControlError(f"{name} plays several instruments: give --instruments "
                               "(e.g. piano,bass,drums) instead of --instrument")
        if controls.wants_tonic_ending:
            raise ControlError(f"{name} does not plan its ending: give --end_on_tonic=false "
                               "with --key")
        if controls.density is not None:
            raise ControlError(f"--density does not apply to {name}")
        self.steps_per_bar(controls)

    # -- generation -----------------------------------------------------------------------

    def _defaults(self, controls, context, seed):
        """(style, instruments, meter, qpm) for a generation: asked for, else the primer's,
        else the style's usual ones (the bundle's style profile)."""
        from musiczoo.controls import ControlError, theory
        style = controls.style
        if style is None:
            known = [s for s in self.styles[1:] if s in self.profile] or list(self.styles[1:])
            style = known[int(np.random.default_rng(seed).integers(len(known)))] \
                if known else "any"
        usual = self.profile.get(style, {})
        instruments = controls.instruments
        if instruments is None and context.get("instruments"):
            instruments = tuple(theory.INSTRUMENT_FAMILIES[i] for i in context["instruments"])
        if instruments is None and usual.get("instruments"):
            instruments = tuple(theory.INSTRUMENT_FAMILIES[int(i)]
                                for i in str(usual["instruments"]).split(","))
        instruments = instruments or DEFAULT_INSTRUMENTS
        if context.get("instruments"):
            outside = [theory.INSTRUMENT_FAMILIES[i] for i in context["instruments"]
                       if theory.INSTRUMENT_FAMILIES[i] not in instruments]
            if outside:
                raise ControlError(f"the primer plays {', '.join(outside)}, which "
                                   f"--instruments ({', '.join(instruments)}) leaves out")
        meter = tuple(controls.time_signature)
        if meter == (4, 4) and context.get("time_signature"):
            meter = tuple(context["time_signature"])
        elif meter == (4, 4) and usual.get("time_signature"):
            meter = tuple(int(x) for x in str(usual["time_signature"]).split("/"))
        qpm = controls.qpm or context.get("qpm") or usual.get("qpm") or 120.0
        return style, instruments, meter, float(qpm)

    def generate(self, num_outputs=1, num_steps=None, *, primer=None, temperature=1.0,
                 top_k=0, seed=None, qpm=None, beam_size=1, branch_factor=1,
                 steps_per_iteration=1, controls=None):
        """`num_outputs` multi-track NoteSequences. Length: `controls.bars` bars (default
        DEFAULT_BARS, primer included), or `num_steps` events after the prefix."""
        from musiczoo.controls import Controls, masks
        from musiczoo.models.base import check_generation
        controls = controls if controls is not None else Controls()
        num_outputs, num_steps, qpm = check_generation(num_outputs, num_steps, qpm, MAX_TOKENS)
        self.check_controls(controls)
        primer_tokens, context = self.primer_tokens(primer)
        style, instruments, meter, tempo = self._defaults(controls, context, seed)
        qpm = qpm or tempo
        controls = dataclasses.replace(controls, style=style, instruments=instruments,
                                       time_signature=meter)
        if target_bars_wanted := (num_steps is None or controls.bars is not None):
            controls = dataclasses.replace(controls, bars=controls.bars or DEFAULT_BARS)
        self.last_controls = controls
        steps_per_bar = self.steps_per_bar(controls)
        families = [mt.INSTRUMENT_NAMES.index(name) for name in instruments]
        prefix = self.codec.base.prefix_ids(style, families)
        tokens = np.concatenate([primer_tokens[:1], prefix, primer_tokens[1:]]).astype(np.int32)
        space = self.control_space()
        history = np.tile(tokens, (num_outputs, 1))
        target = None
        if target_bars_wanted:
            bars = controls.bars
            target = bars * steps_per_bar
            if context.get("steps", 0) >= target:
                raise ValueError(f"the primer is already {context['steps'] / steps_per_bar:.1f} "
                                 f"bars long; ask for more than {bars} bars")
        else:
            if num_steps <= len(tokens) - len(prefix) - 1:
                raise ValueError(f"num_steps ({num_steps}) must be larger than the primer "
                                 f"({len(tokens) - len(prefix) - 1} events): it counts the "
                                 "primer too")
        per_bar = float(self.profile.get(style, {}).get("tokens_per_bar",
                                                        DEFAULT_TOKENS_PER_BAR))
        scores = np.zeros(num_outputs)
        rounds = 0
        head = 1 + len(prefix)
        while True:
            if target is None:
                wanted = num_steps + head - history.shape[1]
                if wanted <= 0:
                    break
            else:
                reached = min(self._steps_reached(row, len(prefix)) for row in history)
                if reached >= target:
                    break
                wanted = int(per_bar * (target - reached) / steps_per_bar * 1.2) + 16
            wanted = min(wanted, MAX_TOKENS - history.shape[1])
            if wanted <= 0:
                log.warning("stopped at %d tokens (the longest generation) before every "
                            "output reached %s bars", history.shape[1], controls.bars)
                break
            # Past the trained context the model sees a window: the conditioning prefix,
            # then the newest half-context of events (as it was trained: prefix + window).
            # Windowed rounds all have one shape (prefix + keep tokens in, the rest of the
            # context out), so the compiled loop traces once for all of them; what runs
            # past the bars asked for is cut at the bar line below.
            window = history
            if history.shape[1] + wanted > self.context:
                keep = max(self.context // 2 - head, 1)
                if history.shape[1] > head + keep:
                    window = np.concatenate([history[:, :head], history[:, -keep:]], axis=1)
                    wanted = self.context - window.shape[1]
                wanted = max(min(wanted, self.context - window.shape[1]), 1)
            if window is not history and beam_size > 1:
                # Beam search reorders rows: a window's continuation would not match the
                # history kept outside it.
                raise ValueError(f"beam search covers one {self.context}-token context of "
                                 f"{self.config.name}: ask for fewer bars, or sample "
                                 "(--beam_size=1)")
            plan = masks.plan(space, controls, window.shape[1] + wanted, window.shape[1])
            out, round_scores = self.generate_tokens(
                window, wanted, temperature=temperature, top_k=top_k or 0,
                seed=None if seed is None else seed + rounds, beam_size=beam_size,
                branch_factor=branch_factor, steps_per_iteration=steps_per_iteration,
                plan=plan)
            history = np.concatenate([history, out[:, window.shape[1]:]], axis=1) \
                if window is not history else out
            scores = scores + round_scores
            rounds += 1
        if target is None:
            history = history[:, :num_steps + head]
        programs = {int(k): int(v) for k, v in
                    self.profile.get(style, {}).get("programs", {}).items()}
        self.last_primer_seconds = None
        if primer is not None and len(primer_tokens) > 1:
            self.last_primer_seconds = context["steps"] * 60.0 / (
                qpm * self.config.steps_per_quarter)
        sequences = []
        for row, score in zip(history, scores):
            sequence = self.to_note_sequence(row[1:], qpm, meter, programs, target)
            self.finish_output(sequence, controls)
            sequence.sequence_metadata.title = (f"{self.config.name} {style} "
                                                f"(log-likelihood {score:.2f})")
            sequence.sequence_metadata.genre.append(style)
            sequences.append(sequence)
        return sequences

    def _steps_reached(self, row, prefix_length):
        events = self.codec.ids_to_events(row[1 + prefix_length:])
        return int(events[events[:, 0] == mt.TIME_SHIFT, 1].sum())

