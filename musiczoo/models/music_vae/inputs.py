"""User files -> the window a MusicVAE encodes, with errors that say what the file holds.

Where Magenta raised NoExtractedExamplesError / MultipleExtractedExamplesError, this
module describes what it found (melodies or drum tracks, their instruments, bars, meters)
and lets the caller pick a window: `first` (earliest), `longest` (first window of the
longest melody/track), or a bar offset (`bar=N` or just N: the window starting at bar N).
"""
import logging
import re

import numpy as np

from musiczoo.pipelines.extract import notearrays
from musiczoo.pipelines.extract.windows import slice_windows
from musiczoo.pipelines.readers.files import read_file
from musiczoo.pipelines.stats import Stats

log = logging.getLogger("musiczoo")
SELECTIONS = "first, longest, or bar=N"


class InputError(ValueError):
    """A file gives no usable window for this model (the message names the file)."""


def parse_selection(select):
    """('first' | 'longest' | 'bar', bar or None) from the user's choice."""
    text = str(select if select is not None else "first").strip().lower()
    if text in ("first", "longest"):
        return text, None
    match = re.fullmatch(r"(?:bar\s*=\s*)?(\d+)", text)
    if not match:
        raise InputError(f"unknown window choice {select!r}: use {SELECTIONS}")
    return "bar", int(match.group(1))


def _describe_notes(sequence):
    drums = sum(1 for n in sequence.notes if n.is_drum)
    pitched = len(sequence.notes) - drums
    instruments = sorted({n.instrument for n in sequence.notes if not n.is_drum})
    return drums, pitched, instruments


def _read(source):
    if hasattr(source, "notes"):
        return source, getattr(source, "filename", "") or "<NoteSequence>"
    sequences = read_file(source)  # ReadError names the file and the problem
    if not sequences:
        raise InputError(f"{source}: the file holds no music")
    return sequences[0], str(source)


def find_windows(source, config):
    """[(track, bar, events)] for every window of the model's length in a file or
    NoteSequence, after explaining (InputError) why there are none."""
    sequence, name = _read(source)
    extractor = config.extractor()
    drums, pitched, instruments = _describe_notes(sequence)
    what = "melody" if config.representation == "melody" else "drum track"
    needed = f"a {config.slice_bars}-bar {what} in 4/4"
    if not sequence.notes:
        raise InputError(f"{name}: the file has no notes; {config.name} needs {needed}")
    if config.representation == "melody" and not pitched:
        raise InputError(f"{name}: the file holds only drums ({drums} drum notes); "
                         f"{config.name} is a melody model (a drums model such as "
                         f"cat-drums_2bar_small takes this file)")
    if config.representation == "drums" and not drums:
        raise InputError(f"{name}: the file has no drum notes (channel 10); {config.name} "
                         f"is a drums model (a melody model such as cat-mel_2bar_small takes "
                         f"{pitched} pitched notes)")
    stats = Stats()
    candidates = extractor.candidates(notearrays.from_note_sequence(sequence), stats)
    meters = sorted({c[1] for c in candidates} - {extractor.steps_per_bar})
    windows = []
    for track, spb, events, first_bar in candidates:
        if spb == extractor.steps_per_bar:
            windows += [(track, first_bar + bar, w) for bar, w in
                        slice_windows(events, spb, extractor.window_steps)]
    if not windows:
        found = [f"{len(candidates)} {what}(s)"]
        if candidates:
            found.append("longest " + str(max(len(c[2]) // max(c[1], 1) for c in candidates))
                         + " bar(s)")
        if meters:
            found.append(f"bars of {meters[0]} steps instead of {extractor.steps_per_bar} "
                         "(not 4/4)")
        if config.representation == "melody":
            found.append(f"{pitched} pitched notes in instrument(s) {instruments}")
        reasons = {k: v for k, v in stats.as_dict().items()
                   if "discarded" in k and isinstance(v, int) and v}
        if reasons:
            found.append(", ".join(f"{k} {v}" for k, v in sorted(reasons.items())))
        raise InputError(f"{name}: no {config.slice_bars}-bar {what} in 4/4 found "
                         f"({'; '.join(found)}); {config.name} needs {needed}")
    return windows, name


def choose_window(source, config, select="first"):
    """(events of one window, description of the choice)."""
    how, bar = parse_selection(select)
    windows, name = find_windows(source, config)
    tracks = sorted({t for t, _, _ in windows})
    if how == "first":
        # Earliest in time: tracks start on bar lines, so compare bars (then track order).
        chosen = min(windows, key=lambda w: (w[1], w[0]))
    elif how == "longest":
        lengths = {t: sum(1 for w in windows if w[0] == t) for t in tracks}
        longest = max(tracks, key=lambda t: (lengths[t], -t))
        chosen = next(w for w in windows if w[0] == longest)
    else:
        matching = [w for w in windows if w[1] == bar]
        if not matching:
            bars = sorted({w[1] for w in windows})
            raise InputError(f"{name}: no {config.slice_bars}-bar window starts at bar {bar}; "
                             f"windows start at bars {bars[:20]}{' ...' if len(bars) > 20 else ''}")
        chosen = matching[0]
    note = (f"{name}: {len(tracks)} track(s), {len(windows)} {config.slice_bars}-bar "
            f"window(s); using bar {chosen[1]} of track {chosen[0]} ({how})")
    if len(windows) > 1:
        log.info("%s; choose with %s", note, SELECTIONS)
    return np.asarray(chosen[2]) if config.representation == "melody" else chosen[2], note
