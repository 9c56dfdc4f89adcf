"""Rendering NoteSequences for people: audio (`audio.render`, `audio.render_wav`, a SoundFont
sampler in numpy or FluidSynth when installed) and piano-roll pictures (`piano_roll`).
Importing this package is cheap: numpy and matplotlib load with the modules that use them."""
import pathlib

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


def companions(midi_paths, *, wav=False, piano_roll_format=None, sample_rate=44100,
               overwrite=False, marked_until=None):
    """Writes <stem>.wav and/or <stem>.png|.svg beside each MIDI file (made from the file
    as written: what you hear and see is what the MIDI holds); returns
    [{"midi", "wav", "piano_roll", "synth"}] in order. `marked_until`: seconds to shade
    as the primer in every picture."""
    from musiczoo.render.audio import render_wav
    from musiczoo.render.piano_roll import piano_roll
    made = []
    for midi_path in map(pathlib.Path, midi_paths):
        entry = {"midi": str(midi_path), "wav": None, "piano_roll": None, "synth": None}
        if wav:
            info = render_wav(midi_path, midi_path.with_suffix(".wav"),
                              sample_rate=sample_rate, overwrite=overwrite)
            entry["wav"], entry["synth"] = info["path"], info["synth"]
        if piano_roll_format:
            target = midi_path.with_suffix("." + piano_roll_format.lstrip("."))
            piano_roll(midi_path, target, marked_until=marked_until, overwrite=overwrite,
                       title=midi_path.name)
            entry["piano_roll"] = str(target)
        made.append(entry)
    return made
