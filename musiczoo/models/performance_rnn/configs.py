"""Performance RNN configs under Magenta's names (performance_model.default_configs):
3 x 512 LSTMs over performance events (NOTE_ON / NOTE_OFF per pitch, 10 ms TIME_SHIFTs up
to 1 s, and with dynamics 32 VELOCITY bins): 356 or 388 classes, one-hot inputs."""
import dataclasses

from musiczoo.models.events_rnn.config import EventsRNNConfig
from musiczoo.pipelines.codecs.performance import PerformanceCodec
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

    def __post_init__(self):
        super().__post_init__()
        if not 0 <= self.num_velocity_bins <= 127 or self.max_shift_steps < 1:
            raise ValueError(f"{self.name}: num_velocity_bins must lie in 0..127 and "
                             "max_shift_steps be >= 1")
        if self.steps_per_second != 100:
            raise ValueError(f"{self.name}: steps_per_second must be 100 (10 ms shifts)")

    def codec(self):
        return PerformanceCodec(self.num_velocity_bins, self.max_shift_steps)

    def data_spec(self):
        return DataSpec(extractor=PerformanceExtractor(
            num_velocity_bins=self.num_velocity_bins, min_events=self.min_events,
            max_events=self.max_events), codec=self.codec())


# Magenta's named configs; musiczoo.models registers them. The conditioned and modulo
# configs (density / pitch-histogram control inputs, modulo encoding) are not here yet.
CONFIGS = (
    PerformanceRNNConfig("performance", "Performance RNN: note on/off, 10 ms time shifts."),
    PerformanceRNNConfig("performance_with_dynamics", "Performance RNN with 32 velocity bins.",
                         num_velocity_bins=32),
)
