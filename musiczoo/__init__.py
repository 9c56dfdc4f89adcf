"""musiczoo: Magenta's model zoo, maintained, on TensorFlow 2 / Keras 3.

The public API is small and importing it is cheap (TensorFlow loads on first use):

    import musiczoo
    musiczoo.list_bundles()
    musiczoo.convert("my_midi", "/tmp/notesequences.tfrecord")   # Magenta's layout
    musiczoo.create_dataset("basic_rnn", "bach_chorales", "/tmp/basic_rnn")
    model = musiczoo.load_bundle("attention_rnn")
    vae = musiczoo.load_bundle("cat-mel_2bar_small")   # + encode / decode / interpolate
    model.generate(3, controls=musiczoo.Controls.parse(key="D minor", bars=16), seed=1)
    musiczoo.compose("calm folk melody in D minor, 16 bars, AABA", "out/song", seed=1,
                     wav=True, piano_roll="png")
    musiczoo.render_wav("song.mid", "song.wav")       # General MIDI audio, offline
    musiczoo.piano_roll("song.mid", "song.png")       # or .svg
"""
import warnings

# note_seq imports pydub, which warns about a missing ffmpeg that musiczoo never uses.
warnings.filterwarnings("ignore", message="Couldn't find ffmpeg or avconv")

from musiczoo.bundles import list_bundles, load_bundle
from musiczoo.commands import convert, create_dataset, generate, interpolate, train
from musiczoo.compose.compose import compose, vary
from musiczoo.controls import ControlError, Controls
from musiczoo.registry import all_configs, apply_hparams, find_config, families
from musiczoo.version import __version__

__all__ = ["ControlError", "Controls", "__version__", "all_configs", "apply_hparams", "compose",
           "convert", "create_dataset", "families", "find_config", "generate", "interpolate",
           "list_bundles", "load_bundle", "piano_roll", "render_wav", "train", "vary"]

# Loaded on first use: audio needs numpy and the SoundFont, pictures matplotlib.
_LAZY = {"render_wav": "musiczoo.render.audio", "piano_roll": "musiczoo.render.piano_roll"}


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'musiczoo' has no attribute {name!r}")
