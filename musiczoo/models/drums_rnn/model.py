"""Drums RNN (Magenta's one_drum, drum_kit) on the shared events-RNN core: drum primers
as lists of pitch tuples or MIDI, General MIDI drums out."""
import numpy as np

from musiczoo.models.events_rnn import primers
from musiczoo.models.events_rnn.family import EventsRNN
from musiczoo.pipelines.extract import drums

DEFAULT_PRIMER = [(36,)]  # one kick, as Magenta's drums_rnn_generate


class DrumsRNN(EventsRNN):
    family = "drums_rnn"
    primer_flags = ("primer_drums", "primer_midi")
    meters = ((4, 4), (3, 4), (2, 4), (6, 8))

    def default_primer(self, controls):
        """Magenta's single kick, or (when --drums leaves the kick out) a silent step."""
        if controls is None or controls.drums is None or 0 in controls.drums:
            return None
        return [()]

    def primer_ids(self, primer):
        kind, value = primers.unpack(primer, ("drums",))
        if kind == "midi":
            quantized = primers.quantized_primer(primers.read_primer_sequence(value),
                                                 self.config.steps_per_quarter)
            found = drums.extract_drum_tracks(quantized, min_bars=0, gap_bars=float("inf"))
            if not found:
                raise primers.PrimerError("the primer has no drums (no notes on a drum channel)")
            events, context = list(max(found, key=len).events), {"qpm": quantized.qpm}
        else:
            steps = value if kind else DEFAULT_PRIMER
            events = []
            for step in steps:
                pitches = (step,) if isinstance(step, int) else step
                if not isinstance(pitches, (tuple, list, set, frozenset)) or not all(
                        isinstance(p, int) and 0 <= p <= 127 for p in pitches):
                    raise primers.PrimerError(
                        f"drum primer step {step!r} must be a tuple of MIDI pitches 0..127, "
                        "e.g. [(36, 42), (), (42,)]")
                events.append(frozenset(pitches))
            context = {}
        return np.asarray(self.codec.events_to_ids(events), np.int32), context

    def to_note_sequence(self, ids, context, qpm):
        track = drums.DrumTrack(list(self.codec.ids_to_events(ids)),
                                steps_per_quarter=self.config.steps_per_quarter)
        return drums.drum_track_to_note_sequence(track, qpm=qpm)
