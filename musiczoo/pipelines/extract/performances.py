"""Performance events (Performance RNN's representation) from quantized NoteArrays.

Reproduces Magenta's performance_rnn data pipeline: sustain pedal applied to the
NoteSequence (`apply_sustain`), optional stretch, split into 30-second chunks
(`split_into_chunks`), absolute quantization at 100 steps per second
(`notearrays.quantize_absolute`), optional transposition, then
`extract_performances`, identical to Magenta's `performance_pipeline.extract_performances`
over `note_seq.Performance` (or `MetricPerformance` for a beat-quantized input).

A performance is an int32 array [N, 2] of (event type, value) rows, with note_seq's
type numbers: NOTE_ON / NOTE_OFF (MIDI pitch), TIME_SHIFT (1..max_shift_steps steps),
VELOCITY (bin 1..num_velocity_bins). Events are built with a few numpy calls per
sequence instead of a Python object per event.
"""
import collections
import dataclasses
import math
from typing import Optional

import numpy as np
from note_seq import sequences_lib
from note_seq.protobuf import music_pb2

from musiczoo.pipelines.extract import notearrays
from musiczoo.pipelines.stats import SequenceError

NOTE_ON, NOTE_OFF, TIME_SHIFT, VELOCITY = 1, 2, 3, 4
EVENT_NAMES = {NOTE_ON: "NOTE_ON", NOTE_OFF: "NOTE_OFF", TIME_SHIFT: "TIME_SHIFT",
               VELOCITY: "VELOCITY"}
MIN_VELOCITY, MAX_VELOCITY = 1, 127
DEFAULT_STEPS_PER_SECOND = 100
DEFAULT_MAX_SHIFT_STEPS = 100
DEFAULT_MAX_SHIFT_QUARTERS = 4
DEFAULT_PROGRAM = 0
STANDARD_PPQ = 220


def _velocity_bin_size(num_velocity_bins):
    return int(math.ceil((MAX_VELOCITY - MIN_VELOCITY + 1) / num_velocity_bins))


def velocity_to_bin(velocity, num_velocity_bins):
    """Velocity bin (1-based) of MIDI velocities; works on ints and arrays."""
    return (velocity - MIN_VELOCITY) // _velocity_bin_size(num_velocity_bins) + 1


def velocity_bin_to_velocity(velocity_bin, num_velocity_bins):
    return MIN_VELOCITY + (velocity_bin - 1) * _velocity_bin_size(num_velocity_bins)


@dataclasses.dataclass
class Performance:
    """(type, value) event rows plus timing; steps count from `start_step` of the source.

    Absolute timing has `steps_per_second`; beat-relative timing (Magenta's
    MetricPerformance) has `steps_per_quarter` instead. `program`/`is_drum` are None
    where the source notes disagree, as note_seq reports them.
    """
    events: np.ndarray                      # int32 [N, 2]
    start_step: int = 0
    steps_per_second: Optional[float] = DEFAULT_STEPS_PER_SECOND
    steps_per_quarter: Optional[int] = None
    num_velocity_bins: int = 32
    max_shift_steps: int = DEFAULT_MAX_SHIFT_STEPS
    program: Optional[int] = None
    is_drum: Optional[bool] = None

    def __post_init__(self):
        self.events = np.asarray(self.events, np.int32).reshape(-1, 2)

    def __len__(self):
        return len(self.events)

    @property
    def num_steps(self):
        shifts = self.events[:, 0] == TIME_SHIFT
        return int(self.events[shifts, 1].sum())

    @property
    def end_step(self):
        return self.start_step + self.num_steps

    def truncate(self, num_events):
        self.events = self.events[:num_events]

    def set_length(self, steps):
        """Pads with time shifts or trims from the end to `steps` steps (note_seq's rule)."""
        current = self.num_steps
        if current < steps:
            self.events = _append_steps(self.events, steps - current, self.max_shift_steps)
        elif current > steps:
            self.events = _trim_steps(self.events, current - steps)


def _append_steps(events, num_steps, max_shift_steps):
    """Extends by num_steps: a trailing short shift is topped up first, then full-size
    shifts and a remainder (note_seq's BasePerformance._append_steps)."""
    events = events.copy()
    if len(events) and events[-1, 0] == TIME_SHIFT and events[-1, 1] < max_shift_steps:
        added = min(num_steps, max_shift_steps - int(events[-1, 1]))
        events[-1, 1] += added
        num_steps -= added
    full, rest = divmod(num_steps, max_shift_steps)
    rows = [[TIME_SHIFT, max_shift_steps]] * full + ([[TIME_SHIFT, rest]] if rest else [])
    return np.concatenate([events, np.asarray(rows, np.int32).reshape(-1, 2)])


def _trim_steps(events, num_steps):
    """Removes num_steps from the end: trailing non-shift events go, the shift that crosses
    the cut is shortened (note_seq's BasePerformance._trim_steps)."""
    shift = np.where(events[:, 0] == TIME_SHIFT, events[:, 1], 0).astype(np.int64)
    # suffix[i]: steps in events[i:]; the cut lies in the last row i with suffix[i] >= n.
    suffix = np.cumsum(shift[::-1])[::-1]
    i = int(np.flatnonzero(suffix >= num_steps)[-1])
    if suffix[i] == num_steps:
        return events[:i].copy()
    events = events[:i + 1].copy()
    events[i, 1] -= num_steps - (suffix[i] - shift[i])
    return events


def performance_events(start_step, end_step, pitch, velocity, *, origin=0,
                       num_velocity_bins=32, max_shift_steps=DEFAULT_MAX_SHIFT_STEPS):
    """Event rows for notes already sorted by (start time, pitch), stable.

    At one step, note_seq orders onsets and offsets by the note's index in that sort
    (not offsets first), an onset before the same note's offset; a VELOCITY event
    precedes an onset whose bin differs from the last onset's (the first always does).
    """
    n = len(pitch)
    if n == 0:
        return np.zeros((0, 2), np.int32)
    note = np.concatenate([np.arange(n), np.arange(n)])
    step = np.concatenate([start_step, end_step]).astype(np.int64)
    is_off = np.concatenate([np.zeros(n, bool), np.ones(n, bool)])
    order = np.lexsort((is_off, note, step))
    note, step, is_off = note[order], step[order], is_off[order]
    delta = np.diff(step, prepend=origin)
    num_shifts = np.where(delta > 0, (delta - 1) // max_shift_steps + 1, 0)
    has_velocity = np.zeros(len(note), bool)
    if num_velocity_bins:
        bins = velocity_to_bin(velocity.astype(np.int64), num_velocity_bins)[note]
        onsets = np.flatnonzero(~is_off)
        onset_bins = bins[onsets]
        previous = np.concatenate([[0], onset_bins[:-1]])
        changed = onsets[onset_bins != previous]
        if np.any(bins[changed] < 1):
            # note_seq's PerformanceEvent refuses VELOCITY 0 (a velocity-0 note after
            # audible ones) and crashes; we raise so the caller can count it.
            raise SequenceError("zero_velocity_note",
                                "a zero-velocity note changes the velocity bin to 0")
        has_velocity[changed] = True
    count = num_shifts + has_velocity + 1
    ends = np.cumsum(count)
    begins = ends - count
    events = np.empty((int(ends[-1]), 2), np.int32)
    events[ends - 1, 0] = np.where(is_off, NOTE_OFF, NOTE_ON)
    events[ends - 1, 1] = pitch[note]
    if num_velocity_bins:
        events[ends[has_velocity] - 2, 0] = VELOCITY
        events[ends[has_velocity] - 2, 1] = bins[has_velocity]
    write_time_shifts(events, begins, delta, num_shifts, max_shift_steps)
    return events


def write_time_shifts(events, begins, delta, num_shifts, max_shift_steps):
    """Fills the TIME_SHIFT rows in front of each event: event i's time advance delta[i]
    becomes num_shifts[i] rows from begins[i], full-size shifts then the remainder
    (1..max). Shared by the performance and multi-instrument encoders."""
    owner = np.repeat(np.arange(len(delta)), num_shifts)
    rank = np.arange(len(owner)) - np.repeat(np.cumsum(num_shifts) - num_shifts, num_shifts)
    events[begins[owner] + rank] = (TIME_SHIFT, max_shift_steps)
    shifted = np.flatnonzero(num_shifts)
    events[begins[shifted] + num_shifts[shifted] - 1, 1] = (
        delta[shifted] - (num_shifts[shifted] - 1) * max_shift_steps)


def _program_and_is_drum(program, is_drum):
    """note_seq's rule: a program only for all-pitched notes with one program; is_drum
    None if mixed. With no notes at all, note_seq reports is_drum=True."""
    if is_drum.all():
        return None, True
    if not is_drum.any():
        programs = np.unique(program)
        return (int(programs[0]) if len(programs) == 1 else None), False
    return None, None


def _drop(stats, reason):
    if stats is not None:
        stats.count(reason)


def extract_performances(arrays, stats=None, *, start_step=0, min_events_discard=None,
                         max_events_truncate=None, max_steps_truncate=None,
                         num_velocity_bins=32, max_shift_steps=None, split_instruments=False):
    """Performances of a quantized NoteArrays, as Magenta's extract_performances made them.

    Absolute quantization gives Performance (max shift 100 steps by default);
    beat-relative gives MetricPerformance (max shift 4 quarters). Magenta's
    performance_rnn used min_events_discard=32, max_events_truncate=512 and 0 or 32
    velocity bins. Statistics (Magenta's names): performances_discarded_more_than_1_program,
    performances_truncated_timewise, performances_truncated,
    performances_discarded_too_short, and the histogram performance_lengths_in_seconds
    (or performance_lengths_in_bars).
    """
    if not arrays.is_quantized:
        raise ValueError(f"{arrays.filename or arrays.id}: performance extraction needs a "
                         "quantized sequence")
    absolute = not arrays.steps_per_quarter
    if max_shift_steps is None:
        max_shift_steps = (DEFAULT_MAX_SHIFT_STEPS if absolute
                           else arrays.steps_per_quarter * DEFAULT_MAX_SHIFT_QUARTERS)
    if split_instruments:
        instruments = [int(i) for i in np.unique(arrays.instrument)]
    else:
        instruments = [None]
        if len(np.unique(arrays.program)) > 1:
            _drop(stats, "performances_discarded_more_than_1_program")
            return []
    # Notes in note_seq's order: sorted by (start time, pitch), ties in source order.
    order = np.lexsort((arrays.pitch, arrays.start_time))
    performances = []
    for instrument in instruments:
        mine = np.ones(len(arrays), bool) if instrument is None else arrays.instrument == instrument
        program, is_drum = _program_and_is_drum(arrays.program[mine], arrays.is_drum[mine])
        chosen = order[mine[order] & (arrays.start_step[order] >= start_step)]
        try:
            events = performance_events(
                arrays.start_step[chosen], arrays.end_step[chosen], arrays.pitch[chosen],
                arrays.velocity[chosen], origin=start_step, num_velocity_bins=num_velocity_bins,
                max_shift_steps=max_shift_steps)
        except ValueError:
            _drop(stats, "performances_discarded_zero_velocity")
            continue
        performance = Performance(
            events, start_step=start_step,
            steps_per_second=arrays.steps_per_second if absolute else None,
            steps_per_quarter=None if absolute else arrays.steps_per_quarter,
            num_velocity_bins=num_velocity_bins, max_shift_steps=max_shift_steps,
            program=program, is_drum=is_drum)
        if max_steps_truncate is not None and performance.num_steps > max_steps_truncate:
            performance.set_length(max_steps_truncate)
            _drop(stats, "performances_truncated_timewise")
        if max_events_truncate is not None and len(performance) > max_events_truncate:
            performance.truncate(max_events_truncate)
            _drop(stats, "performances_truncated")
        if min_events_discard is not None and len(performance) < min_events_discard:
            _drop(stats, "performances_discarded_too_short")
            continue
        performances.append(performance)
        if stats is not None:
            if absolute:
                stats.observe("performance_lengths_in_seconds",
                              int(performance.num_steps // arrays.steps_per_second))
            else:
                stats.observe("performance_lengths_in_bars",
                              int(performance.num_steps // arrays.steps_per_bar_float))
    return performances


def apply_sustain(ns, sustain_control_number=64):
    """The NoteSequence with sustain-pedal control changes applied to note ends.

    Kept at NoteSequence level (NoteArrays carry no control changes); this is
    note_seq.apply_sustain_control_changes, Magenta's SustainPipeline.
    """
    return sequences_lib.apply_sustain_control_changes(ns, sustain_control_number)


def performance_of(sequence, num_velocity_bins, steps_per_second=100):
    """The first performance of a whole NoteSequence (sustain applied, quantized to
    `steps_per_second`), as a primer is read; None when it has none."""
    arrays = notearrays.from_note_sequence(apply_sustain(sequence))
    quantized = notearrays.quantize_absolute(arrays, steps_per_second)
    found = extract_performances(quantized, num_velocity_bins=num_velocity_bins)
    return found[0] if found else None


def split_into_chunks(arrays, hop_size_seconds=30.0, stats=None):
    """Magenta's Splitter: note_seq.split_note_sequence(ns, hop_size_seconds)."""
    return notearrays.split_every(arrays, hop_size_seconds, stats)


def performance_to_note_sequence(performance, velocity=100, instrument=0, program=None,
                                 max_note_duration=None, qpm=120.0):
    """A NoteSequence playing the performance (note_seq's Performance.to_sequence).

    A NOTE_OFF ends the earliest open note of its pitch; notes still open at the end
    end there; zero-length notes are dropped. `velocity` applies until a VELOCITY
    event; `qpm` is used only for beat-relative performances.
    """
    if performance.steps_per_quarter:
        seconds_per_step = 60.0 / (performance.steps_per_quarter * qpm)
    else:
        seconds_per_step = 1.0 / performance.steps_per_second
    start_time = performance.start_step * seconds_per_step
    sequence = music_pb2.NoteSequence()
    sequence.ticks_per_quarter = STANDARD_PPQ
    if program is None:
        program = performance.program if performance.program is not None else DEFAULT_PROGRAM
    is_drum = performance.is_drum if performance.is_drum is not None else False

    def add_note(pitch, begin, end, note_velocity):
        note = sequence.notes.add(
            pitch=pitch, velocity=note_velocity, instrument=instrument, program=program,
            is_drum=is_drum, start_time=begin * seconds_per_step + start_time,
            end_time=end * seconds_per_step + start_time)
        if max_note_duration and note.end_time - note.start_time > max_note_duration:
            note.end_time = note.start_time + max_note_duration
        if note.end_time > sequence.total_time:
            sequence.total_time = note.end_time

    # Open notes per pitch, oldest first; a dict keeps note_seq's pitch order for the
    # notes closed at the end.
    open_notes = collections.defaultdict(collections.deque)
    step = 0
    for event_type, value in performance.events.tolist():
        if event_type == NOTE_ON:
            open_notes[value].append((step, velocity))
        elif event_type == NOTE_OFF:
            if open_notes[value]:
                begin, note_velocity = open_notes[value].popleft()
                if begin != step:
                    add_note(value, begin, step, note_velocity)
        elif event_type == TIME_SHIFT:
            step += value
        elif event_type == VELOCITY:
            if not performance.num_velocity_bins:
                raise ValueError("VELOCITY event in a performance without velocity bins")
            velocity = velocity_bin_to_velocity(value, performance.num_velocity_bins)
        else:
            raise ValueError(f"unknown performance event type {event_type}")
    for pitch, notes in open_notes.items():
        for begin, note_velocity in notes:
            if begin != step:
                add_note(pitch, begin, step, note_velocity)
    if performance.steps_per_quarter:
        sequence.tempos.add(qpm=qpm)
    return sequence
