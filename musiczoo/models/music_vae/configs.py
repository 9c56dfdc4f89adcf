"""MusicVAE configs under Magenta's names and meanings (music_vae/configs.py).

Field names follow Magenta's HParams (enc_rnn_size, dec_rnn_size, z_size, free_bits,
max_beta, beta_rate, sampling_schedule, sampling_rate, learning_rate, decay_rate,
min_learning_rate, grad_clip), so a Magenta user's `--hparams` carry over.
"""
import dataclasses

from musiczoo import checks
from musiczoo.pipelines.codecs.drums import MultiDrumCodec
from musiczoo.pipelines.codecs.melody import MelodyOneHotCodec
from musiczoo.pipelines.datasets.build import DataSpec
from musiczoo.pipelines.extract.windows import PIANO_MAX, PIANO_MIN, IdsCodec, WindowExtractor


@dataclasses.dataclass(frozen=True)
class MusicVAEConfig:
    """One MusicVAE configuration. `conductor_rnn_size` non-empty makes the decoder
    hierarchical (one conductor output per bar, Magenta's HierarchicalLstmDecoder)."""
    name: str
    description: str = ""
    representation: str = "melody"        # "melody" (90 classes) or "drums" (512 classes)
    slice_bars: int = 2
    steps_per_quarter: int = 4
    max_bars: int = 100                   # long tracks are truncated before slicing
    z_size: int = 256
    enc_rnn_size: tuple = (512,)
    dec_rnn_size: tuple = (256, 256)
    conductor_rnn_size: tuple = ()
    cell_type: str = "lstm"               # "lstm" (Magenta's), "gru" or "layer_norm_lstm"
    free_bits: float = 0.0
    max_beta: float = 0.2
    beta_rate: float = 0.0                # beta = (1 - beta_rate**step) * max_beta
    sampling_schedule: str = "constant"   # "constant" | "inverse_sigmoid" | "exponential"
    sampling_rate: float = 0.0
    learning_rate: float = 0.001
    decay_rate: float = 0.9999
    min_learning_rate: float = 0.00001
    grad_clip: float = 1.0
    batch_size: int = 512
    transpose_range: int = 0              # training-time transposition, +-semitones (melody)

    def __post_init__(self):
        checks.check_config(
            self, at_least={"slice_bars": 1, "steps_per_quarter": 1, "max_bars": 1, "z_size": 1,
                            "enc_rnn_size": 1, "dec_rnn_size": 1, "conductor_rnn_size": 1,
                            "free_bits": 0, "max_beta": 0, "sampling_rate": 0,
                            "min_learning_rate": 0, "grad_clip": 0, "batch_size": 1,
                            "transpose_range": 0},
            fraction=("beta_rate",), positive=("learning_rate", "decay_rate"))
        if self.decay_rate > 1:
            raise ValueError(f"{self.name}: decay_rate must be in (0, 1], got {self.decay_rate}")
        if self.cell_type not in ("lstm", "gru", "layer_norm_lstm"):
            raise ValueError(f"{self.name}: cell_type must be lstm, gru or layer_norm_lstm, "
                             f"got {self.cell_type!r}")
        if self.representation not in ("melody", "drums"):
            raise ValueError(f"{self.name}: representation must be melody or drums, "
                             f"got {self.representation!r}")
        if self.sampling_schedule not in ("constant", "inverse_sigmoid", "exponential"):
            raise ValueError(f"{self.name}: sampling_schedule must be constant, "
                             f"inverse_sigmoid or exponential, got {self.sampling_schedule!r}")
        if self.sampling_schedule == "inverse_sigmoid" and self.sampling_rate < 1:
            raise ValueError(f"{self.name}: inverse_sigmoid needs sampling_rate >= 1")
        if self.slice_bars < 1 or self.z_size < 1 or not self.enc_rnn_size \
                or not self.dec_rnn_size:
            raise ValueError(f"{self.name}: slice_bars, z_size and the RNN sizes must be set")
        if self.representation == "drums" and self.transpose_range:
            raise ValueError(f"{self.name}: drums cannot be transposed (transpose_range=0)")

    @property
    def steps_per_bar(self):
        return 4 * self.steps_per_quarter

    @property
    def max_seq_len(self):
        return self.slice_bars * self.steps_per_bar

    @property
    def hierarchical(self):
        return bool(self.conductor_rnn_size)

    def event_codec(self):
        if self.representation == "melody":
            return MelodyOneHotCodec(PIANO_MIN, PIANO_MAX)
        return MultiDrumCodec()

    def codec(self):
        return IdsCodec(self.event_codec())

    def extractor(self):
        return WindowExtractor(self.representation, self.slice_bars, self.steps_per_quarter,
                               self.max_bars)

    def data_spec(self):
        return DataSpec(extractor=self.extractor(), codec=self.codec())


# Magenta's named configs; musiczoo.models registers them.
CONFIGS = (
    MusicVAEConfig(
        "cat-mel_2bar_small", "2-bar melodies: BiLSTM encoder, categorical LSTM decoder.",
        beta_rate=0.99999, sampling_schedule="inverse_sigmoid", sampling_rate=1000,
        transpose_range=5),
    MusicVAEConfig(
        "cat-drums_2bar_small", "2-bar drum loops (9-piece kit, 512 classes).",
        representation="drums", free_bits=48, sampling_schedule="inverse_sigmoid",
        sampling_rate=1000),
    MusicVAEConfig(
        "cat-mel_2bar_big", "2-bar melodies, Magenta's big model (2048-unit encoder, 3 x 2048 "
        "decoder, z 512): import Magenta's checkpoint with musiczoo_import.",
        z_size=512, enc_rnn_size=(2048,), dec_rnn_size=(2048, 2048, 2048), max_beta=0.5,
        beta_rate=0.99999, sampling_schedule="inverse_sigmoid", sampling_rate=1000,
        transpose_range=5),
    MusicVAEConfig(
        "hierdec-mel_16bar", "16-bar melodies: BiLSTM encoder, conductor over bars, "
        "LSTM decoder per bar.", slice_bars=16, z_size=512, enc_rnn_size=(2048, 2048),
        dec_rnn_size=(1024, 1024), conductor_rnn_size=(1024, 1024), free_bits=256,
        beta_rate=0.99999, transpose_range=5),
)
