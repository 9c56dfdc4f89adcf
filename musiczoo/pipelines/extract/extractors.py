"""Extractors: a batch of sequences -> event sequences of one representation.

Each extractor is the quantize-and-extract half of one of Magenta's data pipelines
(melody_rnn, drums_rnn, performance_rnn), configured by plain fields so a model
config can declare it, and run over a batch of NoteArrays at once.
"""
import dataclasses
from typing import Optional

from musiczoo.pipelines.extract import drums, melodies, notearrays, notetable, performances


@dataclasses.dataclass(frozen=True)
class MelodyExtractor:
    """TimeChangeSplitter -> Quantizer -> MelodyExtractor -> squash, as melody_rnn did."""
    steps_per_quarter: int = 4
    min_note: int = 48
    max_note: int = 84
    transpose_to_key: Optional[int] = 0
    min_bars: int = 7
    max_steps: int = 512
    min_unique_pitches: int = 5
    gap_bars: float = 1.0
    ignore_polyphonic_notes: bool = True
    kind = "melodies"

    def extract(self, sequences, stats):
        """[(index of source sequence, melody events)] for a list of NoteArrays."""
        table = notetable.build(sequences, self.steps_per_quarter, stats)
        batch = melodies.extract_melody_batch(
            table, stats, min_bars=self.min_bars, max_steps_truncate=self.max_steps,
            min_unique_pitches=self.min_unique_pitches, gap_bars=self.gap_bars,
            ignore_polyphonic_notes=self.ignore_polyphonic_notes)
        events, _ = melodies.squash_batch(batch, self.min_note, self.max_note,
                                          self.transpose_to_key)
        sources = table.part_sequence[batch.part]
        return list(zip(sources.tolist(), batch.split(events)))


def quantized_parts(arrays, steps_per_quarter, stats):
    """Split on time changes and quantize each part, counting parts that cannot be."""
    for part in notearrays.split_on_time_changes(arrays, stats):
        try:
            yield notearrays.quantize(part, steps_per_quarter)
        except notearrays.QuantizeError as error:
            stats.count(f"sequences_discarded_because_{error.reason}")


@dataclasses.dataclass(frozen=True)
class DrumExtractor:
    """TimeChangeSplitter -> Quantizer -> DrumsExtractor, as drums_rnn did."""
    steps_per_quarter: int = 4
    min_bars: int = 7
    max_steps: int = 512
    gap_bars: float = 1.0
    kind = "drum_tracks"

    def extract(self, sequences, stats):
        out = []
        for index, arrays in enumerate(sequences):
            for part in quantized_parts(arrays, self.steps_per_quarter, stats):
                for track in drums.extract_drum_tracks(
                        part, stats, min_bars=self.min_bars, max_steps_truncate=self.max_steps,
                        gap_bars=self.gap_bars):
                    out.append((index, track.events))
        return out


@dataclasses.dataclass(frozen=True)
class PerformanceExtractor:
    """Splitter (30 s) -> absolute Quantizer -> PerformanceExtractor, as performance_rnn
    did (sustain is applied to the NoteSequence before, see `needs_sustain`)."""
    steps_per_second: int = 100
    num_velocity_bins: int = 32
    min_events: int = 32
    max_events: int = 512
    hop_size_seconds: float = 30.0
    needs_sustain = True
    kind = "performances"

    def extract(self, sequences, stats):
        out = []
        for index, arrays in enumerate(sequences):
            for chunk in performances.split_into_chunks(arrays, self.hop_size_seconds, stats):
                try:
                    quantized = notearrays.quantize_absolute(chunk, self.steps_per_second)
                except notearrays.QuantizeError as error:
                    stats.count(f"sequences_discarded_because_{error.reason}")
                    continue
                for performance in performances.extract_performances(
                        quantized, stats, min_events_discard=self.min_events,
                        max_events_truncate=self.max_events,
                        num_velocity_bins=self.num_velocity_bins):
                    out.append((index, performance.events))
        return out
