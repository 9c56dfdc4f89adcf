"""Monophonic melody extraction from quantized NoteArrays, with Magenta's semantics.

Reproduces Magenta's `melody_pipelines.extract_melodies` built on
`note_seq.Melody.from_quantized_sequence`: per instrument, notes sorted by
(start, -pitch), the highest of simultaneous onsets kept (or the track dropped as
polyphonic), a melody ended by a silence of `gap_bars`, then filtered by length and
pitch variety. A melody is an int array of Magenta melody events: a MIDI pitch starts
a note, -1 (NOTE_OFF) ends one, -2 (NO_EVENT) continues whatever is sounding.
All sequences, parts and instruments of a batch are processed together: the
work is a fixed number of numpy calls per batch, not a Python loop per note.
"""
import dataclasses

import numpy as np

NOTE_OFF = -1
NO_EVENT = -2
NOTES_PER_OCTAVE = 12
# For each pitch class, the major keys it belongs to (note_seq.constants.NOTE_KEYS).
_MAJOR_SCALE = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], bool)
_NOTE_IN_KEY = np.array([[_MAJOR_SCALE[(note - key) % 12] for key in range(12)]
                         for note in range(12)], np.int64)  # [note, key]


@dataclasses.dataclass
class Melody:
    """Melody events plus where they came from (steps are relative to the source)."""
    events: np.ndarray       # int32 [length]
    start_step: int
    steps_per_bar: int
    steps_per_quarter: int
    instrument: int = 0
    program: int = 0

    def __len__(self):
        return len(self.events)

    @property
    def end_step(self):
        return self.start_step + len(self.events)


_BIG = np.int64(1) << 40  # key = group * _BIG + step orders notes by group, then step


@dataclasses.dataclass
class MelodyBatch:
    """Extracted melodies, flat: melody k is events[offsets[k]:offsets[k + 1]]."""
    events: np.ndarray        # int32, all melodies back to back
    offsets: np.ndarray       # int64 [m + 1]
    part: np.ndarray          # int64 [m] part of the NoteTable each came from
    instrument: np.ndarray
    program: np.ndarray
    start_step: np.ndarray
    steps_per_bar: np.ndarray
    steps_per_quarter: int

    def __len__(self):
        return len(self.offsets) - 1

    def __getitem__(self, k):
        return Melody(self.events[self.offsets[k]:self.offsets[k + 1]], int(self.start_step[k]),
                      int(self.steps_per_bar[k]), self.steps_per_quarter,
                      int(self.instrument[k]), int(self.program[k]))

    def melodies(self):
        return [self[k] for k in range(len(self))]

    def split(self, events=None):
        """Per-melody views of `events` (default: this batch's events)."""
        return np.split(self.events if events is None else events, self.offsets[1:-1])


def _first_in_run(*keys):
    """True where any key differs from the previous row (row 0 is always True)."""
    flags = np.ones(len(keys[0]), bool)
    if len(flags) > 1:
        flags[1:] = False
        for key in keys:
            flags[1:] |= key[1:] != key[:-1]
    return flags


def _note_order(part, instrument, start, pitch):
    """Stable order by (part, instrument, start, -pitch), as note_seq sorts a track.

    Packing the keys into one int64 sorts ~8x faster than np.lexsort (rows arrive
    nearly sorted, which timsort exploits); lexsort remains for keys too wide to pack.
    """
    if not len(part):
        return np.zeros(0, np.int64)
    widths = [max(int(x.max()), 0).bit_length() for x in (part, instrument, start)]
    packable = (instrument.min() >= 0 and start.min() >= 0 and pitch.min() >= 0
                and pitch.max() <= 127)
    if sum(widths) + 7 <= 62 and packable:
        key = part.astype(np.int64)
        for values, width in ((instrument, widths[1]), (start, widths[2])):
            key = (key << width) | values.astype(np.int64)
        key = (key << 7) | (127 - pitch.astype(np.int64))
        return np.argsort(key, kind="stable")
    return np.lexsort((-pitch.astype(np.int64), start, instrument, part))


def _segments(start, end, group, spb, usable, gap_bars, search_start_step):
    """Melody candidates: runs of single-onset usable notes broken by group or gap.

    Returns (dedup note indices, their segment ids, per-segment first/last positions,
    search step and melody start step). Where a candidate starts before the bar line
    its predecessor's search rule allows (only possible with gap_bars < 1), the early
    notes are dropped and the groups re-segmented, until consistent.
    """
    key = group * _BIG + start
    while True:
        used = np.flatnonzero(usable)
        onset_first = _first_in_run(group[used], start[used])
        dedup = used[onset_first]
        d_start, d_end, d_group = start[dedup], end[dedup], group[dedup]
        seg_break = _first_in_run(d_group)
        if len(dedup) > 1:
            seg_break[1:] |= d_start[1:] - d_end[:-1] >= gap_bars * spb[dedup[1:]]
        seg_first = np.flatnonzero(seg_break)
        seg_last = np.append(seg_first[1:] - 1, len(dedup) - 1)
        seg_group = d_group[seg_first]
        seg_spb = spb[dedup[seg_first]]
        group_first = _first_in_run(seg_group)
        prev_end = np.concatenate([[0], d_end[seg_last[:-1]]])
        search = np.where(group_first, search_start_step,
                          prev_end + (search_start_step - prev_end) % seg_spb)
        late = ~group_first & (d_start[seg_first] < search)
        if not late.any():
            break
        # Fix the first inconsistent candidate of each group, then look again.
        bad = np.flatnonzero(late)
        bad = bad[_first_in_run(seg_group[bad])]
        for lo, hi in zip(dedup[seg_first[bad]],
                          np.searchsorted(key, seg_group[bad] * _BIG + search[bad])):
            usable[lo:hi] = False
    first_any = np.searchsorted(key, seg_group * _BIG + search)
    first_start = start[first_any]
    melody_start = first_start - (first_start - search) % seg_spb
    return (used, onset_first, dedup, np.cumsum(seg_break) - 1, seg_first, seg_last,
            seg_group, seg_spb, melody_start)


def extract_melody_batch(table, stats=None, *, search_start_step=0, min_bars=7,
                         max_steps_truncate=None, max_steps_discard=None, gap_bars=1.0,
                         min_unique_pitches=5, ignore_polyphonic_notes=True, pad_end=False,
                         filter_drums=True):
    """All melodies of every part and instrument of a NoteTable, as Magenta found them.

    Statistics (Magenta's names): polyphonic_tracks_discarded,
    melodies_discarded_too_short, melodies_discarded_too_long,
    melodies_discarded_too_few_pitches, melodies_truncated, non_integer_steps_per_bar,
    and the histogram melody_lengths_in_bars.
    """
    def count(name, n):
        if stats is not None and n:
            stats.count(name, int(n))

    spb_float = table.part_steps_per_bar
    parts_with_notes = np.unique(table.part)
    fractional = spb_float[parts_with_notes] % 1 != 0
    count("non_integer_steps_per_bar", fractional.sum())
    rows = np.flatnonzero((spb_float[table.part] % 1 == 0)
                          & (table.start_step >= search_start_step))
    part, instrument = table.part[rows], table.instrument[rows]
    start, pitch = table.start_step[rows], table.pitch[rows]
    order = rows[_note_order(part, instrument, start, pitch)]
    part, instrument = table.part[order], table.instrument[order]
    start, end, pitch = table.start_step[order], table.end_step[order], table.pitch[order]
    group = np.cumsum(_first_in_run(part, instrument)) - 1
    spb = spb_float[part].astype(np.int64)
    usable = table.velocity[order] != 0
    if filter_drums:
        usable &= ~table.is_drum[order]
    empty = MelodyBatch(np.zeros(0, np.int32), np.zeros(1, np.int64), *([np.zeros(0, np.int64)] * 5),
                        table.steps_per_quarter)
    if not usable.any():
        return empty
    (used, onset_first, dedup, seg, seg_first, seg_last, seg_group, seg_spb,
     melody_start) = _segments(start, end, group, spb, usable, gap_bars, search_start_step)
    num_segments = len(seg_first)
    dropped = np.zeros(num_segments, bool)

    if not ignore_polyphonic_notes and not onset_first.all():
        # A second note on an onset of a candidate discards it and the rest of its track.
        dup_seg = seg[np.cumsum(onset_first)[~onset_first] - 1]
        poly = np.zeros(num_segments, np.int64)
        poly[dup_seg] = 1
        running = np.cumsum(poly)
        group_start = np.flatnonzero(_first_in_run(seg_group))
        before = (running - poly)[group_start]
        poly_seen = running - np.repeat(before, np.diff(np.append(group_start, num_segments))) > 0
        count("polyphonic_tracks_discarded", len(np.unique(seg_group[poly_seen])))
        dropped |= poly_seen

    length = end[dedup[seg_last]] - melody_start
    padded = length + (-length % seg_spb if pad_end else 0)
    too_short = ~dropped & (padded < seg_spb * min_bars)
    count("melodies_discarded_too_short", too_short.sum())
    dropped |= too_short
    if max_steps_discard is not None:
        too_long = ~dropped & (padded > max_steps_discard)
        count("melodies_discarded_too_long", too_long.sum())
        dropped |= too_long
    final = padded
    if max_steps_truncate is not None:
        truncated = ~dropped & (padded > max_steps_truncate)
        count("melodies_truncated", truncated.sum())
        cut = max_steps_truncate - (max_steps_truncate % seg_spb if pad_end else 0)
        final = np.where(truncated, cut, padded)

    rel_onset = start[dedup] - melody_start[seg]
    in_melody = rel_onset < final[seg]
    classes = np.bincount(seg[in_melody] * 12 + pitch[dedup[in_melody]] % 12,
                          minlength=num_segments * 12).reshape(num_segments, 12)
    too_few = ~dropped & (np.count_nonzero(classes, axis=1) < min_unique_pitches)
    count("melodies_discarded_too_few_pitches", too_few.sum())
    kept = np.flatnonzero(~(dropped | too_few))
    if not len(kept):
        return empty
    count("melodies_extracted", len(kept))
    if stats is not None:
        for bars, n in zip(*np.unique(final[kept] // seg_spb[kept], return_counts=True)):
            stats.histograms["melody_lengths_in_bars"][int(bars)] += int(n)

    # Write every kept melody's events into one flat array.
    lengths = final[kept]
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    base = np.full(num_segments, -1, np.int64)
    base[kept] = offsets[:-1]
    events = np.full(offsets[-1], NO_EVENT, np.int32)
    note_base = base[seg]
    on = in_melody & (note_base >= 0)
    events[note_base[on] + rel_onset[on]] = pitch[dedup[on]]
    # NOTE_OFF where a note ends before the next onset of its melody.
    same_seg_next = np.append(seg[1:] == seg[:-1], False)
    next_start = np.append(start[dedup[1:]], 0)
    rel_off = end[dedup] - melody_start[seg]
    off = same_seg_next & (end[dedup] < next_start) & (note_base >= 0) & (rel_off < final[seg])
    events[note_base[off] + rel_off[off]] = NOTE_OFF
    # Padding a melody ends its last note explicitly (note_seq's set_length).
    pad_off = (padded > length) & (length < final) & (base >= 0)
    events[base[pad_off] + length[pad_off]] = NOTE_OFF

    first_note = order[dedup[seg_first[kept]]]
    return MelodyBatch(events, offsets.astype(np.int64), table.part[first_note],
                       table.instrument[first_note].astype(np.int64),
                       table.program[first_note].astype(np.int64),
                       melody_start[kept].astype(np.int64), seg_spb[kept].astype(np.int64),
                       table.steps_per_quarter)


def extract_melodies(arrays, stats=None, **kwargs):
    """Melodies of one quantized NoteArrays (see `extract_melody_batch` for the options)."""
    if not arrays.is_quantized or not arrays.steps_per_quarter:
        raise ValueError(f"{arrays.filename or arrays.id}: melody extraction needs a "
                         "sequence quantized relative to the beat (steps_per_quarter)")
    from musiczoo.pipelines.extract.notetable import NoteTable
    n = len(arrays)
    numerator, denominator = arrays.time_signature
    table = NoteTable(
        part=np.zeros(n, np.int64), pitch=arrays.pitch, velocity=arrays.velocity,
        instrument=arrays.instrument, program=arrays.program, is_drum=arrays.is_drum,
        start_step=arrays.start_step, end_step=arrays.end_step,
        part_sequence=np.zeros(1, np.int64),
        part_steps_per_bar=np.array([arrays.steps_per_bar_float]),
        part_qpm=np.array([arrays.qpm]), part_time_signature=np.array([[numerator, denominator]]),
        part_start_time=np.array([arrays.start_time_offset]), ids=[arrays.id],
        steps_per_quarter=arrays.steps_per_quarter)
    return extract_melody_batch(table, stats, **kwargs).melodies()


def squash_batch(batch, min_note, max_note, transpose_to_key=None):
    """`squash` applied to every melody of a MelodyBatch at once: (events, amounts)."""
    if transpose_to_key is None:
        amounts = np.zeros(len(batch), np.int64)
    else:
        positions = np.flatnonzero(batch.events >= 0)
        pitches = batch.events[positions].astype(np.int64)
        owner = np.searchsorted(batch.offsets, positions, side="right") - 1
        histogram = np.bincount(owner * 12 + pitches % 12,
                                minlength=len(batch) * 12).reshape(len(batch), 12)
        key_diff = transpose_to_key - np.argmax(histogram @ _NOTE_IN_KEY, axis=1)
        firsts = np.searchsorted(owner, np.arange(len(batch)))
        center = (np.minimum.reduceat(pitches, firsts) + np.maximum.reduceat(pitches, firsts)) / 2
        center_diff = (min_note + max_note - 1) / 2 - (center + key_diff)
        # np.round rounds half to even, like Python's round() in note_seq.
        amounts = key_diff + NOTES_PER_OCTAVE * np.round(center_diff / 12.0).astype(np.int64)
    lengths = np.diff(batch.offsets)
    shift = np.repeat(amounts, lengths)
    return transpose_events(batch.events, shift, min_note, max_note), amounts


def major_key(events):
    """Most likely major key (0 = C), lowest index on ties, as note_seq's get_major_key."""
    pitches = events[events >= 0]
    histogram = np.bincount(pitches % NOTES_PER_OCTAVE, minlength=12)
    return int(np.argmax(histogram @ _NOTE_IN_KEY))


def transpose_events(events, amount, min_note=0, max_note=128):
    """Transposes pitches by `amount`, folding octaves into [min_note, max_note)."""
    events = events.copy()
    notes = events >= 0
    # `amount` may be one number or one per event (a whole MelodyBatch at once).
    shifted = events[notes] + (amount[notes] if np.ndim(amount) else amount)
    low, high = shifted < min_note, shifted >= max_note
    shifted[low] = min_note + (shifted[low] - min_note) % NOTES_PER_OCTAVE
    shifted[high] = max_note - NOTES_PER_OCTAVE + (shifted[high] - max_note) % NOTES_PER_OCTAVE
    events[notes] = shifted
    return events


def squash(events, min_note, max_note, transpose_to_key=None):
    """note_seq's Melody.squash: transpose into a key and centre in [min_note, max_note).

    Returns (new_events, transpose_amount).
    """
    if transpose_to_key is None:
        amount = 0
    else:
        pitches = events[events >= 0]
        if len(pitches) == 0:
            return events.copy(), 0
        key_diff = transpose_to_key - major_key(events)
        center = (int(pitches.min()) + int(pitches.max())) / 2
        target = (min_note + max_note - 1) / 2
        center_diff = target - (center + key_diff)
        amount = key_diff + NOTES_PER_OCTAVE * int(round(center_diff / float(NOTES_PER_OCTAVE)))
    return transpose_events(events, amount, min_note, max_note), amount


def melody_to_note_sequence(events, steps_per_quarter, qpm=120.0, velocity=100, instrument=0,
                            program=0, start_step=0):
    """A NoteSequence playing melody events, as note_seq's Melody.to_sequence writes it: a
    note sounds until the next onset or NOTE_OFF, or the melody's end."""
    from note_seq.protobuf import music_pb2
    events = np.asarray(events)
    seconds_per_step = 60.0 / qpm / steps_per_quarter
    offset = start_step * seconds_per_step
    sequence = music_pb2.NoteSequence(ticks_per_quarter=220)
    sequence.tempos.add().qpm = qpm
    onsets = np.flatnonzero(events >= 0)
    boundaries = np.flatnonzero(events != NO_EVENT)
    following = np.searchsorted(boundaries, onsets, side="right")
    ends = np.where(following < len(boundaries),
                    boundaries[np.minimum(following, max(len(boundaries) - 1, 0))], len(events))
    for onset, end in zip(onsets.tolist(), ends.tolist()):
        sequence.notes.add(pitch=int(events[onset]), velocity=velocity, instrument=instrument,
                           program=program, start_time=onset * seconds_per_step + offset,
                           end_time=end * seconds_per_step + offset)
    if sequence.notes:
        sequence.total_time = sequence.notes[-1].end_time
    return sequence
