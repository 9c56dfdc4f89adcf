"""Melody RNN configs under Magenta's names and meanings (melody_rnn_model.default_configs)."""
import dataclasses
from typing import Optional

from musiczoo.models.events_rnn.config import EventsRNNConfig
from musiczoo.pipelines.codecs.key_melody import KeyMelodyCodec
from musiczoo.pipelines.codecs.lookback import LookbackCodec
from musiczoo.pipelines.codecs.melody import MelodyOneHotCodec
from musiczoo.pipelines.datasets.build import DataSpec
from musiczoo.pipelines.extract.extractors import MelodyExtractor


@dataclasses.dataclass(frozen=True)
class MelodyRNNConfig(EventsRNNConfig):
    """One Melody RNN configuration (plus the shared events-RNN fields)."""
    # "one_hot" (basic_rnn, mono_rnn), "lookback" (lookback_rnn) or "key" (attention_rnn:
    # Magenta's KeyMelodyEncoderDecoder).
    encoding: str = "one_hot"
    min_note: int = 48
    max_note: int = 84
    transpose_to_key: Optional[int] = 0
    min_unique_pitches: int = 5

    def __post_init__(self):
        super().__post_init__()
        if not (0 <= self.min_note and self.max_note <= 128 and self.min_unique_pitches >= 0):
            raise ValueError(f"{self.name}: notes must lie in 0..128 and min_unique_pitches "
                             f"be >= 0 (got {self.min_note}..{self.max_note}, "
                             f"{self.min_unique_pitches})")
        if self.encoding not in ("one_hot", "lookback", "key"):
            raise ValueError(f"{self.name}: encoding must be one_hot, lookback or key, "
                             f"got {self.encoding!r}")
        if self.max_note - self.min_note < 12:
            raise ValueError(f"{self.name}: max_note - min_note must be >= 12 "
                             f"(got {self.min_note}..{self.max_note})")
        if self.transpose_to_key is not None and not 0 <= self.transpose_to_key <= 11:
            raise ValueError(f"{self.name}: transpose_to_key must be in 0..11 or None")

    def codec(self):
        if self.encoding == "one_hot":
            return MelodyOneHotCodec(self.min_note, self.max_note)
        if self.encoding == "lookback":
            return LookbackCodec(MelodyOneHotCodec(self.min_note, self.max_note))
        return KeyMelodyCodec(self.min_note, self.max_note)

    def data_spec(self):
        return DataSpec(
            extractor=MelodyExtractor(
                steps_per_quarter=self.steps_per_quarter, min_note=self.min_note,
                max_note=self.max_note, transpose_to_key=self.transpose_to_key,
                min_bars=self.min_bars, max_steps=self.max_steps,
                min_unique_pitches=self.min_unique_pitches, gap_bars=self.gap_bars),
            codec=self.codec())


# Magenta's named configs; musiczoo.models registers them.
CONFIGS = (
    MelodyRNNConfig("basic_rnn", "Melody RNN with one-hot encoding."),
    MelodyRNNConfig("mono_rnn", "Monophonic RNN with one-hot encoding over all 128 pitches.",
                    min_note=0, max_note=128, transpose_to_key=None),
    MelodyRNNConfig("lookback_rnn", "Melody RNN with lookback encoding.", encoding="lookback"),
    MelodyRNNConfig("attention_rnn", "Melody RNN with lookback (key) encoding and attention.",
                    encoding="key", attn_length=40, clip_norm=3.0),
)
