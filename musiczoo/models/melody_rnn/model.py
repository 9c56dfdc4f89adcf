"""Melody RNN (Magenta's basic_rnn, mono_rnn, lookback_rnn, attention_rnn) on the shared
events-RNN core: melody primers, squashing into the config's range, MIDI out."""
import numpy as np

from musiczoo.models.events_rnn import primers
from musiczoo.models.events_rnn.family import EventsRNN
from musiczoo.pipelines.extract import melodies

DEFAULT_PRIMER = [60]  # middle C, as Magenta's melody_rnn_generate


class MelodyRNN(EventsRNN):
    family = "melody_rnn"
    primer_flags = ("primer_melody", "primer_midi")

    @property
    def meters(self):
        # The key codec hard-codes a 16-step bar (note_seq's); the others count steps only.
        if self.config.encoding == "key":
            return ((4, 4),)
        return ((4, 4), (3, 4), (2, 4), (6, 8))

    def home_shift(self, controls):
        """Configs that squash melodies into C (transpose_to_key=0, Magenta's melody
        configs) know C best: a D minor request is sampled as A minor (D minor's relative
        major is F) and moved up 5 semitones, so it has its B-flats."""
        if controls is None or self.config.transpose_to_key is None:
            return 0
        return controls.home_shift() - self.config.transpose_to_key

    def default_primer(self, controls):
        """Magenta's middle C, or with pitch controls the allowed pitch nearest to it
        (the tonic first), so the primer obeys them too."""
        if controls is None or controls.allows_pitch(DEFAULT_PRIMER[0]) and not controls.key:
            return None
        pitches = [p for p in range(self.config.min_note, self.config.max_note)
                   if controls.allows_pitch(p)]
        tonics = [p for p in pitches if controls.key and p % 12 == controls.tonic]
        choices = tonics or pitches
        if not choices:
            return None  # the plan will say why nothing fits
        return [min(choices, key=lambda p: (abs(p - 62), p))]

    def primer_ids(self, primer):
        config = self.config
        kind, value = primers.unpack(primer, ("melody",))
        if kind == "midi":
            quantized = primers.quantized_primer(primers.read_primer_sequence(value),
                                                 config.steps_per_quarter)
            found = melodies.extract_melodies(quantized, min_bars=0, min_unique_pitches=1,
                                              gap_bars=float("inf"))
            if not found:
                raise primers.PrimerError("the primer has no melody (drums only, or silent)")
            events = max(found, key=len).events
            # Transposed into the model's range, and the output transposed back (Magenta).
            events, shift = melodies.squash(events, config.min_note, config.max_note,
                                            config.transpose_to_key)
            context = {"shift": -shift, "qpm": quantized.qpm}
        else:
            value = value if kind else DEFAULT_PRIMER
            if not all(isinstance(e, (int, np.integer)) for e in value):
                raise primers.PrimerError(
                    f"melody primers take one event per step (pitch, -1 note off, -2 no "
                    f"event); got {value!r}: chords are polyphonic, use --primer_midi")
            events = np.asarray(value)
            bad = events[(events < -2) | ((events >= 0) & ((events < config.min_note) |
                                                           (events >= config.max_note)))]
            if len(bad):
                raise primers.PrimerError(
                    f"primer event {int(bad[0])} is outside {config.name}'s range: pitches "
                    f"{config.min_note}..{config.max_note - 1}, -1 (note off), -2 (no event)")
            context = {"shift": 0}
        return self.codec.events_to_ids(events).astype(np.int32), context

    def to_note_sequence(self, ids, context, qpm):
        events = self.codec.ids_to_events(ids)
        if context.get("shift"):
            events = melodies.transpose_events(events, context["shift"])
        return melodies.melody_to_note_sequence(events, self.config.steps_per_quarter, qpm)

