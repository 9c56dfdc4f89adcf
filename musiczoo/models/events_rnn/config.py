"""The fields every events-RNN config shares: Magenta's HParams and extractor settings."""
import dataclasses


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
    clip_norm: float = 5.0
    learning_rate: float = 0.001
    batch_size: int = 128
    # Extraction (Magenta's MelodyExtractor / DrumsExtractor settings).
    min_bars: int = 7
    max_steps: int = 512
    gap_bars: float = 1.0
