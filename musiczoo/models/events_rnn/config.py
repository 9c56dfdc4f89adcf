"""The fields every events-RNN config shares: Magenta's HParams and extractor settings."""
import dataclasses

from musiczoo import checks


@dataclasses.dataclass(frozen=True)
class EventsRNNConfig:
    """Flags map one to one onto these fields (`--hparams=layer_sizes=[256,256]`).
    dropout_rate = 1 - Magenta's dropout_keep_prob."""
    name: str
    description: str = ""
    steps_per_quarter: int = 4
    layer_sizes: tuple = (128, 128)
    dropout_rate: float = 0.5
    attn_length: int = 0
    cell_type: str = "lstm"   # "lstm" (Magenta's), "gru" or "layer_norm_lstm"
    clip_norm: float = 5.0
    learning_rate: float = 0.001
    batch_size: int = 128
    # Extraction (Magenta's MelodyExtractor / DrumsExtractor settings).
    min_bars: int = 7
    max_steps: int = 512
    gap_bars: float = 1.0

    def __post_init__(self):
        checks.check_config(
            self, at_least={"steps_per_quarter": 1, "layer_sizes": 1, "attn_length": 0,
                            "clip_norm": 0, "batch_size": 1, "min_bars": 0, "max_steps": 1,
                            "gap_bars": 0},
            fraction=("dropout_rate",), positive=("learning_rate",))
        if not self.layer_sizes:
            raise ValueError(f"{self.name}: layer_sizes must name at least one layer")
        if self.cell_type not in ("lstm", "gru", "layer_norm_lstm"):
            raise ValueError(f"{self.name}: cell_type must be lstm, gru or layer_norm_lstm, "
                             f"got {self.cell_type!r}")
