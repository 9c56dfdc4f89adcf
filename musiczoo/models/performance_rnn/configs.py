"""Performance RNN configs under Magenta's names (performance_model.default_configs):
3 x 512 LSTMs over performance events (NOTE_ON / NOTE_OFF per pitch, 10 ms TIME_SHIFTs up
to 1 s, and with dynamics 32 VELOCITY bins): 356 or 388 classes, one-hot inputs."""
import dataclasses
import typing

from musiczoo.models.events_rnn.config import EventsRNNConfig
from musiczoo.pipelines.codecs.performance import (CONTROL_SIGNALS,
                                                  ConditionedPerformanceCodec,
                                                  ModuloPerformanceCodec, PerformanceCodec)
from musiczoo.pipelines.datasets.build import DataSpec
from musiczoo.pipelines.extract.extractors import PerformanceExtractor


@dataclasses.dataclass(frozen=True)
class PerformanceRNNConfig(EventsRNNConfig):
    """Magenta's PerformanceRnnConfig fields (plus the shared events-RNN ones)."""
    layer_sizes: tuple = (512, 512, 512)
    dropout_rate: float = 0.0
    clip_norm: float = 3.0
    num_velocity_bins: int = 0
    max_shift_steps: int = 100
    steps_per_second: int = 100
    min_events: int = 32
    max_events: int = 512
    # Conditioning (Magenta's control_signals / optional_conditioning): constant values
    # given at generation (--notes_per_second, --pitch_class_histogram).
    control_signals: typing.Tuple[str, ...] = ()
    optional_conditioning: bool = False
    encoding: str = "one_hot"   # "one_hot" or "modulo" (Magenta's modulo input encoding)

    def __post_init__(self):
        super().__post_init__()
        if not 0 <= self.num_velocity_bins <= 127 or self.max_shift_steps < 1:
            raise ValueError(f"{self.name}: num_velocity_bins must lie in 0..127 and "
                             "max_shift_steps be >= 1")
        if self.steps_per_second != 100:
            raise ValueError(f"{self.name}: steps_per_second must be 100 (10 ms shifts)")
        if any(c not in CONTROL_SIGNALS for c in self.control_signals):
            raise ValueError(f"{self.name}: control_signals must be some of {CONTROL_SIGNALS}")
        if self.encoding not in ("one_hot", "modulo") or (
                self.encoding == "modulo" and self.control_signals):
            raise ValueError(f"{self.name}: encoding must be one_hot or modulo (modulo "
                             "without control signals)")
        if self.optional_conditioning and not self.control_signals:
            raise ValueError(f"{self.name}: optional_conditioning needs control_signals")

    def codec(self):
        if self.encoding == "modulo":
            return ModuloPerformanceCodec(self.num_velocity_bins, self.max_shift_steps)
        if self.control_signals:
            return ConditionedPerformanceCodec(self.num_velocity_bins, self.max_shift_steps,
                                               self.control_signals, self.optional_conditioning)
        return PerformanceCodec(self.num_velocity_bins, self.max_shift_steps)

    def data_spec(self):
        return DataSpec(extractor=PerformanceExtractor(
            num_velocity_bins=self.num_velocity_bins, min_events=self.min_events,
            max_events=self.max_events), codec=self.codec())


# Magenta's named configs; musiczoo.models registers them. The conditioned ones import
# and generate (their datasets, which need Magenta's sliding-window control signals, are
# not built yet); the note encoding (several softmaxes per note) is not here yet.
CONFIGS = (
    PerformanceRNNConfig("performance", "Performance RNN: note on/off, 10 ms time shifts."),
    PerformanceRNNConfig("performance_with_dynamics", "Performance RNN with 32 velocity bins.",
                         num_velocity_bins=32),
    PerformanceRNNConfig("performance_with_dynamics_and_modulo_encoding",
                         "Performance RNN with dynamics and modulo encoding.",
                         num_velocity_bins=32, encoding="modulo"),
    PerformanceRNNConfig("density_conditioned_performance_with_dynamics",
                         "Note-density-conditioned Performance RNN + dynamics.",
                         num_velocity_bins=32, control_signals=("notes_per_second",)),
    PerformanceRNNConfig("pitch_conditioned_performance_with_dynamics",
                         "Pitch-histogram-conditioned Performance RNN.",
                         num_velocity_bins=32, control_signals=("pitch_class_histogram",)),
    PerformanceRNNConfig("multiconditioned_performance_with_dynamics",
                         "Density- and pitch-conditioned Performance RNN.",
                         num_velocity_bins=32, control_signals=CONTROL_SIGNALS),
    PerformanceRNNConfig("optional_multiconditioned_performance_with_dynamics",
                         "Optionally multiconditioned Performance RNN.",
                         num_velocity_bins=32, control_signals=CONTROL_SIGNALS,
                         optional_conditioning=True),
)
