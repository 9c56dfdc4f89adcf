"""Rendering NoteSequences for people: audio (`audio.render`, `audio.render_wav`, a SoundFont
sampler in numpy or FluidSynth when installed) and piano-roll pictures (`piano_roll`).
Importing this package is cheap: numpy and matplotlib load with the modules that use them."""
from musiczoo import checks

ROLL_FORMATS = ("png", "svg")


def render_options(wav=False, piano_roll=None, sample_rate=44100):
    """(wav, piano-roll format or None, sample rate), checked before any music is made:
    `piano_roll` is None/False (none), True ("png"), "png" or "svg"."""
    roll = None
    if piano_roll is True:
        roll = "png"
    elif piano_roll not in (None, False, ""):
        roll = str(piano_roll).lower().lstrip(".")
        if roll not in ROLL_FORMATS:
            raise ValueError(f"piano roll format {piano_roll!r}: choose png or svg")
    if wav:
        sample_rate = checks.integer("sample_rate", sample_rate, 8000, 192000)
    return bool(wav), roll, sample_rate
