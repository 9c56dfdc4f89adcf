"""Drums RNN configs under Magenta's names and meanings (drums_rnn_model.default_configs)."""
import dataclasses

from musiczoo import checks
from musiczoo.models.events_rnn.config import EventsRNNConfig
from musiczoo.pipelines.codecs.drums import DEFAULT_DRUM_TYPE_PITCHES, ONE_DRUM_PITCHES, MultiDrumCodec
from musiczoo.pipelines.codecs.lookback import LookbackCodec
from musiczoo.pipelines.datasets.build import DataSpec
from musiczoo.pipelines.extract.extractors import DrumExtractor


@dataclasses.dataclass(frozen=True)
class DrumsRNNConfig(EventsRNNConfig):
    """One Drums RNN configuration (plus the shared events-RNN fields, with drum_kit's
    defaults: 3 x 256, attention over 32 steps, clip norm 3)."""
    layer_sizes: tuple = (256, 256, 256)
    attn_length: int = 32
    clip_norm: float = 3.0
    # "one_hot": plain classes (one_drum); "lookback": binary step counters (drum_kit).
    encoding: str = "lookback"
    drum_type_pitches: tuple = DEFAULT_DRUM_TYPE_PITCHES
    binary_counter_bits: int = 6

    def __post_init__(self):
        super().__post_init__()
        if self.encoding not in ("one_hot", "lookback"):
            raise ValueError(f"{self.name}: encoding must be one_hot or lookback")
        if not 0 <= self.binary_counter_bits <= 16:
            raise ValueError(f"{self.name}: binary_counter_bits must be in 0..16, "
                             f"got {self.binary_counter_bits}")
        if not self.drum_type_pitches or not all(
                isinstance(group, (tuple, list)) and group and
                all(checks._is_int(p) and 0 <= p <= 127 for p in group)
                for group in self.drum_type_pitches):
            raise ValueError(f"{self.name}: drum_type_pitches must be groups of MIDI pitches "
                             f"0..127, got {self.drum_type_pitches!r}")

    def codec(self):
        drums = MultiDrumCodec([list(p) for p in self.drum_type_pitches])
        if self.encoding == "one_hot":
            return drums
        return LookbackCodec(drums, lookback_distances=(),
                             binary_counter_bits=self.binary_counter_bits)

    def data_spec(self):
        return DataSpec(
            extractor=DrumExtractor(steps_per_quarter=self.steps_per_quarter,
                                    min_bars=self.min_bars, max_steps=self.max_steps,
                                    gap_bars=self.gap_bars),
            codec=self.codec())


# Magenta's named configs; musiczoo.models registers them.
CONFIGS = (
    DrumsRNNConfig("one_drum", "Drums RNN with 2-state encoding.", encoding="one_hot",
                   drum_type_pitches=ONE_DRUM_PITCHES, steps_per_quarter=2,
                   layer_sizes=(128, 128), attn_length=0, clip_norm=5.0),
    DrumsRNNConfig("drum_kit", "Drums RNN with multiple drums and binary counters."),
)
