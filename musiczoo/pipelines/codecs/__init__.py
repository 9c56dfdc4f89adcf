"""Codecs: events <-> integer classes <-> model inputs, one per representation.

Importing this package registers every codec, so `codec_from_config` (used when a
bundle is loaded) knows them all.
"""
from musiczoo.pipelines.codecs.base import Codec, codec_from_config, register_codec  # noqa: F401
from musiczoo.pipelines.codecs.chorale import ChoraleGridCodec  # noqa: F401
from musiczoo.pipelines.codecs.drums import MultiDrumCodec  # noqa: F401
from musiczoo.pipelines.codecs.key_melody import KeyMelodyCodec  # noqa: F401
from musiczoo.pipelines.codecs.lookback import LookbackCodec  # noqa: F401
from musiczoo.pipelines.codecs.melody import MelodyOneHotCodec  # noqa: F401
from musiczoo.pipelines.codecs.multitrack import MultitrackCodec  # noqa: F401
from musiczoo.pipelines.codecs.performance import PerformanceCodec  # noqa: F401
from musiczoo.pipelines.codecs.tokens import TokenCodec  # noqa: F401
