"""Drum-track extraction from quantized NoteArrays, with Magenta's semantics.

Reproduces Magenta's `drum_pipelines.extract_drum_tracks` built on
`note_seq.DrumTrack.from_quantized_sequence`: drum notes (velocity > 0) are grouped
by onset step, a track starts on the bar holding its first onset, ends before the
first onset that follows `gap_bars` of silence, and the next search resumes on the
following bar line. A drum event is the frozenset of drum pitches struck at a step
(empty: nothing struck), exactly note_seq's event type, so tracks compare directly.

Onset grouping and gap detection are done once per sequence with numpy; the loop
runs once per extracted track, not once per note.
"""
import dataclasses

import numpy as np
from note_seq.protobuf import music_pb2

EMPTY = frozenset()
STANDARD_PPQ = 220


@dataclasses.dataclass
class DrumTrack:
    """Drum events (one frozenset of pitches per step) plus where they came from.

    `start_step` is a bar line of the source sequence; the track covers
    [start_step, start_step + len(events)).
    """
    events: list
    start_step: int = 0
    steps_per_bar: int = 16
    steps_per_quarter: int = 4

    def __len__(self):
        return len(self.events)

    def __iter__(self):
        return iter(self.events)

    def __getitem__(self, index):
        return self.events[index]

    @property
    def end_step(self):
        return self.start_step + len(self.events)

    def set_length(self, steps):
        """Truncates, or pads with empty events, to `steps` steps (from the right)."""
        if steps < len(self.events):
            del self.events[steps:]
        else:
            self.events.extend([EMPTY] * (steps - len(self.events)))


def _onset_groups(arrays, ignore_is_drum):
    """Distinct onset steps (sorted) of usable drum notes and the notes at each.

    Returns (steps, bounds, pitches): the notes of onset k have pitches
    pitches[bounds[k]:bounds[k + 1]].
    """
    usable = arrays.velocity != 0  # note_seq skips zero-velocity notes
    if not ignore_is_drum:
        usable &= arrays.is_drum
    start = arrays.start_step[usable]
    pitch = arrays.pitch[usable]
    order = np.argsort(start, kind="stable")
    start, pitch = start[order], pitch[order]
    steps, first = np.unique(start, return_index=True)
    bounds = np.append(first, len(start))
    return steps, bounds, pitch


def _drop(stats, reason):
    if stats is not None:
        stats.count(reason)


def extract_drum_tracks(arrays, stats=None, *, search_start_step=0, min_bars=7,
                        max_steps_truncate=None, max_steps_discard=None, gap_bars=1.0,
                        pad_end=False, ignore_is_drum=False):
    """All drum tracks of a relative-quantized NoteArrays, as Magenta extracted them.

    Statistics (Magenta's names): drum_tracks_discarded_too_short,
    drum_tracks_discarded_too_long, drum_tracks_truncated, non_integer_steps_per_bar
    (counted by Magenta's DrumsExtractor, which then returned nothing), and the
    histogram drum_track_lengths_in_bars. Magenta's DrumsExtractor (drums_rnn) used
    min_bars=7, max_steps_truncate=512, gap_bars=1.0.
    """
    if not arrays.is_quantized or not arrays.steps_per_quarter:
        raise ValueError(f"{arrays.filename or arrays.id}: drum extraction needs a "
                         "sequence quantized relative to the beat (steps_per_quarter)")
    tracks = []
    # note_seq checks the bar length before looking at any note.
    spb_float = arrays.steps_per_bar_float
    if spb_float % 1 != 0:
        _drop(stats, "non_integer_steps_per_bar")
        return tracks
    steps_per_bar = int(spb_float)
    steps, bounds, pitch = _onset_groups(arrays, ignore_is_drum)
    # A track ends before onset k when the silence since the previous onset's step
    # (steps[k] - steps[k-1] - 1 empty steps) reaches gap_bars bars.
    breaks = np.flatnonzero(np.diff(steps) - 1 >= gap_bars * steps_per_bar) + 1
    search = search_start_step
    while True:
        first = int(np.searchsorted(steps, search, side="left"))
        if first == len(steps):
            break
        first_step = int(steps[first])
        track_start = first_step - (first_step - search) % steps_per_bar
        after = breaks[np.searchsorted(breaks, first, side="right"):]
        stop = int(after[0]) if len(after) else len(steps)
        length = int(steps[stop - 1]) - track_start + 1
        if pad_end:
            length += -length % steps_per_bar
        events = [EMPTY] * length
        for k in range(first, stop):
            events[int(steps[k]) - track_start] = frozenset(
                pitch[bounds[k]:bounds[k + 1]].tolist())
        track = DrumTrack(events, track_start, steps_per_bar, arrays.steps_per_quarter)
        # The next search starts on the next bar line (relative to the current search);
        # with gap_bars < 1 or pad_end this can skip onsets, as in Magenta.
        search = track.end_step + (search - track.end_step) % steps_per_bar
        track = _filter_track(track, stats, min_bars, max_steps_truncate, max_steps_discard,
                              pad_end)
        if track is not None:
            tracks.append(track)
    return tracks


def _filter_track(track, stats, min_bars, max_steps_truncate, max_steps_discard, pad_end):
    steps_per_bar = track.steps_per_bar
    if len(track) < steps_per_bar * min_bars:
        return _drop(stats, "drum_tracks_discarded_too_short")
    if max_steps_discard is not None and len(track) > max_steps_discard:
        return _drop(stats, "drum_tracks_discarded_too_long")
    if max_steps_truncate is not None and len(track) > max_steps_truncate:
        length = max_steps_truncate
        if pad_end:
            length -= max_steps_truncate % steps_per_bar
        track.set_length(length)
        _drop(stats, "drum_tracks_truncated")
    if stats is not None:
        stats.observe("drum_track_lengths_in_bars", len(track) // steps_per_bar)
    return track


def drum_track_to_note_sequence(track, velocity=100, instrument=9, program=0,
                                sequence_start_time=0.0, qpm=120.0):
    """A NoteSequence playing the track, every hit one step long (note_seq's to_sequence).

    Pitches of one step are written in ascending order (note_seq follows frozenset
    iteration order, which is not defined), so compare notes as sets.
    """
    seconds_per_step = 60.0 / qpm / track.steps_per_quarter
    sequence = music_pb2.NoteSequence()
    sequence.tempos.add().qpm = qpm
    sequence.ticks_per_quarter = STANDARD_PPQ
    offset = sequence_start_time + track.start_step * seconds_per_step
    for step, event in enumerate(track.events):
        for pitch in sorted(event):
            sequence.notes.add(
                pitch=pitch, velocity=velocity, instrument=instrument, program=program,
                is_drum=True, start_time=step * seconds_per_step + offset,
                end_time=(step + 1) * seconds_per_step + offset)
    if sequence.notes:
        sequence.total_time = sequence.notes[-1].end_time
    return sequence
