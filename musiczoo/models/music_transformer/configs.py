"""Music Transformer configs: the representation (codec + extractor) and the network.

`chorale_transformer` is the shipped JSB-style chorale model; `performance_transformer`
uses Magenta's full-range performance vocabulary (388 events) and
`performance_transformer_88` the 88-key one with the two reserved ids (310), as in
Magenta's score2perf problems. Widths follow the paper's piano model (512 wide, 8 heads,
relative positions up to the context) scaled to what trains on a CPU; change any with
--hparams.
"""
import dataclasses
import typing

from musiczoo import checks
from musiczoo.pipelines.codecs.chorale import ChoraleGridCodec
from musiczoo.pipelines.codecs.multitrack import MultitrackCodec
from musiczoo.pipelines.codecs.performance import PerformanceCodec
from musiczoo.pipelines.codecs.tokens import TokenCodec
from musiczoo.pipelines.datasets.build import DataSpec
from musiczoo.pipelines.extract import transforms
from musiczoo.pipelines.extract.chorales import ChoraleGridExtractor
from musiczoo.pipelines.extract.extractors import PerformanceExtractor
from musiczoo.pipelines.extract.multitrack import MultitrackExtractor


@dataclasses.dataclass(frozen=True)
class MusicTransformerConfig:
    name: str
    description: str = ""
    representation: str = "chorale"       # "chorale" (SATB grid) | "performance"
    num_layers: int = 3
    d_model: int = 256
    num_heads: int = 8
    ff_size: int = 1024
    max_relative_position: int = 512
    dropout_rate: float = 0.1
    max_length: int = 512                 # training crop = the model's context, in tokens
    batch_size: int = 16
    learning_rate: float = 0.001          # peak, after linear warm-up; then rsqrt decay
    warmup_steps: int = 200
    clip_norm: float = 1.0
    transpose_range: int = 3              # train-time transposition, +- semitones
    stretch_factors: tuple = (0.95, 0.975, 1.0, 1.025, 1.05)  # performance datasets
    min_pitch: int = 30                   # chorale: 30..90; performance: 0..127 or 21..108
    max_pitch: int = 90
    steps_per_quarter: int = 4            # chorale grid resolution (16th notes)
    num_velocity_bins: int = 32           # performance
    num_reserved_ids: int = 0             # performance: 2 gives the 310-event vocabulary
    # multitrack: style names (the first, "any", is the style of unlabelled pieces; a
    # piece's style is the first folder of its path that names one), grid shifts up to
    # max_shift_steps, training windows of window_bars bars every hop_bars bars.
    styles: typing.Tuple[str, ...] = ("any",)
    max_shift_steps: int = 48
    window_bars: int = 8
    hop_bars: int = 4

    def __post_init__(self):
        checks.check_config(
            self, at_least={"num_layers": 1, "d_model": 1, "num_heads": 1, "ff_size": 1,
                            "max_relative_position": 1, "max_length": 2, "batch_size": 1,
                            "warmup_steps": 0, "clip_norm": 0, "transpose_range": 0,
                            "min_pitch": 0, "steps_per_quarter": 1, "num_velocity_bins": 1,
                            "num_reserved_ids": 0, "max_shift_steps": 1, "window_bars": 1,
                            "hop_bars": 1},
            fraction=("dropout_rate",), positive=("learning_rate",))
        if self.max_pitch > 127 or self.min_pitch > self.max_pitch:
            raise ValueError(f"{self.name}: pitches must satisfy 0 <= min_pitch <= max_pitch "
                             f"<= 127, got {self.min_pitch}..{self.max_pitch}")
        if any(not f > 0 for f in self.stretch_factors):
            raise ValueError(f"{self.name}: stretch_factors must be > 0, "
                             f"got {self.stretch_factors}")
        if self.representation not in ("chorale", "performance", "multitrack"):
            raise ValueError(f"{self.name}: representation must be chorale, performance or "
                             f"multitrack, got {self.representation!r}")
        if self.representation == "multitrack" and (
                not self.styles or self.styles[0] != "any" or
                len(set(self.styles)) != len(self.styles)):
            raise ValueError(f"{self.name}: styles must be distinct names, 'any' first; got "
                             f"{self.styles!r}")
        if self.d_model % self.num_heads:
            raise ValueError(f"{self.name}: num_heads ({self.num_heads}) must divide the width "
                             f"d_model ({self.d_model})")

    def event_codec(self):
        if self.representation == "chorale":
            return ChoraleGridCodec(self.min_pitch, self.max_pitch)
        if self.representation == "multitrack":
            return MultitrackCodec(tuple(self.styles), self.num_velocity_bins,
                                   self.max_shift_steps, self.min_pitch, self.max_pitch)
        return PerformanceCodec(self.num_velocity_bins, 100, self.min_pitch, self.max_pitch,
                                self.num_reserved_ids)

    def codec(self):
        return TokenCodec(self.event_codec())

    @property
    def tokens_per_step(self):
        """Tokens per generation step: a grid step is 4 tokens, a performance event one."""
        return 4 if self.representation == "chorale" else 1

    def data_spec(self):
        if self.representation == "chorale":
            return DataSpec(extractor=ChoraleGridExtractor(self.steps_per_quarter),
                            codec=self.codec())
        if self.representation == "multitrack":
            return DataSpec(extractor=MultitrackExtractor(
                tuple(self.styles), self.steps_per_quarter, self.max_shift_steps,
                self.num_velocity_bins, self.min_pitch, self.max_pitch, self.window_bars,
                self.hop_bars, max_events=self.max_length), codec=self.codec())
        # Whole pieces (random crops at training time), stretched copies as score2perf.
        extractor = PerformanceExtractor(num_velocity_bins=self.num_velocity_bins,
                                         max_events=None, hop_size_seconds=600.0)
        stretch = tuple(self.stretch_factors) or (1.0,)
        return DataSpec(extractor=extractor, codec=self.codec(),
                        train_transforms=(transforms.stretch_augment(stretch),))


# The two piano configs share one network and a 1024-event context; only their
# vocabularies differ.
_PIANO = dict(representation="performance", num_layers=6, d_model=512, ff_size=1024,
              max_relative_position=1024, max_length=1024)

# The styles of the multitrack corpus (pipelines/readers/multitrack.py): its folder names.
MULTITRACK_STYLES = ("any", "rock", "pop", "ballad", "swing", "jazz", "jazz_waltz", "waltz",
                     "bossa_nova", "latin", "tango", "blues", "country", "funk_soul", "march",
                     "chorale", "renaissance", "medieval", "string_quartet", "folk", "game")

# Magenta's named configs; musiczoo.models registers them.
CONFIGS = (
    MusicTransformerConfig(
        "chorale_transformer", "Four-voice chorales on a 16th-note grid, SATB interleaved "
        "(the paper's JSB Chorales setup)."),
    MusicTransformerConfig(
        "performance_transformer", "Piano performances as Magenta's 388 performance events "
        "(full MIDI range, 100 time shifts of 10 ms, 32 velocity bins).",
        min_pitch=0, max_pitch=127, **_PIANO),
    MusicTransformerConfig(
        "performance_transformer_88", "Piano performances as the 310-event vocabulary "
        "(88 keys plus padding and end ids, as Magenta's score2perf).",
        min_pitch=21, max_pitch=108, num_reserved_ids=2, **_PIANO),
    MusicTransformerConfig(
        "multitrack_transformer", "Multi-instrument band and ensemble music in a style: one "
        "event stream over the 16 GM families and drums, on a 12-per-quarter grid, "
        "conditioned on a style and the instruments that play (musiczoo's MuseNet row).",
        representation="multitrack", styles=MULTITRACK_STYLES, num_layers=3, d_model=192,
        num_heads=6, ff_size=768, max_relative_position=512, max_length=512,
        window_bars=4, hop_bars=2, batch_size=8, steps_per_quarter=12,
        num_velocity_bins=8, min_pitch=21, max_pitch=108, transpose_range=3, warmup_steps=300),
)
