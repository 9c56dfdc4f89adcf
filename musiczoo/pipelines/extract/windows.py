"""Fixed-length windows of melodies or drum tracks, as MusicVAE's data converters made them.

Magenta's OneHotMelodyConverter / DrumsConverter extracted every melody (or drum track) of a
sequence, padded it to whole bars, truncated it to `max_bars`, cut a window of `slice_bars`
bars at every bar offset, and kept the distinct windows of each sequence. `WindowExtractor`
does the same over a batch of NoteArrays (so it plugs into create_dataset), and
`IdsCodec` stores each window as its class ids (one float per step instead of a 90- or
512-wide one-hot row: the model one-hots or rolls them itself).
"""
import dataclasses

import numpy as np

from musiczoo.pipelines.codecs.base import Codec, codec_from_config, register_codec
from musiczoo.pipelines.extract import drums, melodies, notetable
from musiczoo.pipelines.extract.extractors import quantized_parts

# Magenta's OneHotMelodyConverter range: the 88 piano keys (90 classes with no-event/off).
PIANO_MIN, PIANO_MAX = 21, 109


def slice_windows(events, steps_per_bar, window_steps):
    """Every window of `window_steps` events starting on a bar line: [(bar, events)]."""
    return [(start // steps_per_bar, events[start:start + window_steps])
            for start in range(0, len(events) - window_steps + 1, steps_per_bar)]


def _distinct(windows):
    seen, kept = set(), []
    for window in windows:
        key = np.asarray(window).tobytes() if isinstance(window, np.ndarray) else repr(window)
        if key not in seen:
            seen.add(key)
            kept.append(window)
    return kept


@dataclasses.dataclass(frozen=True)
class WindowExtractor:
    """Distinct `slice_bars`-bar windows of every melody ("melody") or drum track ("drums")
    of each sequence. Steps per bar come from each part's own time signature; windows
    are counted in statistics as windows_extracted / windows_duplicate.

    Windows repeat across pieces too (a drum groove's loop, a folk tune's opening), so
    create_dataset drops every eval window that equals a training window
    (`eval_windows_duplicate_of_training`): held-out figures then measure reconstruction
    of unseen windows, not memory."""
    eval_excludes_training = True  # read by create_dataset (a class attribute, not a field)

    representation: str = "melody"
    slice_bars: int = 2
    steps_per_quarter: int = 4
    max_bars: int = 100
    gap_bars: float = 1.0
    min_note: int = PIANO_MIN
    max_note: int = PIANO_MAX

    @property
    def kind(self):
        return "melody_windows" if self.representation == "melody" else "drum_windows"

    def candidates(self, arrays, stats):
        """[(track, steps_per_bar, events, first bar)] of one NoteArrays: melodies squashed
        into range (by octaves, no key change) or drum tracks, each padded to whole bars."""
        if self.representation == "melody":
            table = notetable.build([arrays], self.steps_per_quarter, stats)
            batch = melodies.extract_melody_batch(
                table, stats, min_bars=self.slice_bars, max_steps_truncate=None,
                min_unique_pitches=1, gap_bars=self.gap_bars, pad_end=True)
            events, _ = melodies.squash_batch(batch, self.min_note, self.max_note, None)
            return [(m, int(spb), e[:self.max_bars * int(spb)], int(start) // int(spb))
                    for m, (spb, e, start) in enumerate(zip(
                        batch.steps_per_bar, batch.split(events), batch.start_step))]
        found = []
        for part in quantized_parts(arrays, self.steps_per_quarter, stats):
            for track in drums.extract_drum_tracks(part, stats, min_bars=self.slice_bars,
                                                   gap_bars=self.gap_bars, pad_end=True):
                spb = int(track.steps_per_bar)
                found.append((len(found), spb, list(track.events)[:self.max_bars * spb],
                               track.start_step // spb))
        return found

    @property
    def steps_per_bar(self):
        return 4 * self.steps_per_quarter  # the models' fixed 4/4 grid (as Magenta's)

    @property
    def window_steps(self):
        return self.slice_bars * self.steps_per_bar

    def extract(self, sequences, stats):
        out = []
        for index, arrays in enumerate(sequences):
            windows = []
            for _, spb, events, _ in self.candidates(arrays, stats):
                if spb != self.steps_per_bar:
                    stats.count("tracks_discarded_not_4_4")
                    continue
                windows += [w for _, w in slice_windows(events, spb, self.window_steps)]
            distinct = _distinct(windows)
            stats.count("windows_extracted", len(distinct))
            stats.count("windows_duplicate", len(windows) - len(distinct))
            out += [(index, window) for window in distinct]
        return out


@register_codec
class IdsCodec(Codec):
    """A base codec's class ids as both inputs (one float per step) and labels, unshifted:
    an autoencoder reconstructs the whole window, it does not predict the next event."""

    def __init__(self, base):
        self.base = base if isinstance(base, Codec) else codec_from_config(base)
        self.num_classes = self.base.num_classes
        self.input_size = 1
        self.default_id = self.base.default_id

    def events_to_ids(self, events):
        return self.base.events_to_ids(events)

    def ids_to_events(self, ids):
        return self.base.ids_to_events(ids)

    def encode(self, events):
        ids = np.asarray(self.events_to_ids(events), np.int64)
        return ids[:, None].astype(np.float32), ids

    def get_config(self):
        return {"class": type(self).__name__, "base": self.base.get_config()}
