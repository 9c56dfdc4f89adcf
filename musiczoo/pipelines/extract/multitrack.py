"""Multi-instrument performances: many tracks as one event stream, on a beat grid.

The representation of the multi-instrument Music Transformer (musiczoo.pipelines.codecs.
multitrack). Every note belongs to an *instrument*: one of the 16 General MIDI program
families (piano, chromatic percussion, organ, guitar, bass, strings, ensemble, brass,
reed, pipe, synth lead, synth pad, synth effects, ethnic, percussive, sound effects) or
the drum kit. Events are (type, value) rows, as a performance's are:

- NOTE_ON / NOTE_OFF, value `instrument * 128 + pitch` (drums have no NOTE_OFF: a hit);
- TIME_SHIFT 1..max_shift_steps grid steps (beat-relative: tempo is the file's, not the
  model's, so "110 bpm, 8 bars" is exact);
- VELOCITY bin, applying to the next NOTE_ON, remembered per instrument: it is written
  only when that instrument's velocity changes, so steady tracks cost no tokens;
- STYLE and INSTRUMENT: the conditioning prefix (style, then every instrument that
  plays, ascending), written before the first event.

At one grid step the NOTE_OFFs come first, then the NOTE_ONs, each ordered by
(instrument, pitch). Quantization (`quantize_multitrack`) is what the round trip keeps:
times on the grid, velocities in bins, programs by family, a drum hit DRUM_STEPS long,
a note cut where its instrument plays the same pitch again, and duplicate notes of one
instrument (doubled tracks of a family) merged.
"""
import collections
import dataclasses

import numpy as np
from note_seq.protobuf import music_pb2

from musiczoo.pipelines.extract import notearrays, performances
from musiczoo.pipelines.stats import SequenceError

NOTE_ON, NOTE_OFF, TIME_SHIFT, VELOCITY = (performances.NOTE_ON, performances.NOTE_OFF,
                                           performances.TIME_SHIFT, performances.VELOCITY)
STYLE, INSTRUMENT = 5, 6
EVENT_NAMES = {**performances.EVENT_NAMES, STYLE: "STYLE", INSTRUMENT: "INSTRUMENT"}

INSTRUMENT_NAMES = ("piano", "chromatic_percussion", "organ", "guitar", "bass", "strings",
                    "ensemble", "brass", "reed", "pipe", "synth_lead", "synth_pad",
                    "synth_effects", "ethnic", "percussive", "sound_effects", "drums")
DRUMS = 16
NUM_INSTRUMENTS = len(INSTRUMENT_NAMES)
# The program an instrument plays when nothing says otherwise: one per family.
DEFAULT_PROGRAMS = (0, 11, 16, 24, 32, 40, 48, 56, 65, 73, 80, 88, 96, 104, 112, 120)
DRUM_STEPS = 3               # a drum hit's length on decoding (a 16th at 12 steps a quarter)
DEFAULT_VELOCITY_BIN = None  # no velocity yet: the decoder plays 100


def instrument_of(program, is_drum):
    """Instrument numbers of (program, is_drum) arrays: program // 8, or DRUMS."""
    return np.where(np.asarray(is_drum, bool), DRUMS, np.asarray(program, np.int64) // 8)


@dataclasses.dataclass
class MultitrackNotes:
    """Quantized notes of one piece, each with its instrument (0..16)."""
    instrument: np.ndarray   # int64
    pitch: np.ndarray
    velocity_bin: np.ndarray  # 1..bins (0 when the codec has no velocity)
    start_step: np.ndarray
    end_step: np.ndarray
    steps_per_quarter: int
    qpm: float = 120.0
    time_signature: tuple = (4, 4)

    def __len__(self):
        return len(self.pitch)

    @property
    def instruments(self):
        return sorted({int(i) for i in self.instrument})

    def rows(self):
        """The notes as a sorted int64 array [N, 5] (instrument, pitch, start, end, bin),
        the form tests compare."""
        table = np.stack([self.instrument, self.pitch, self.start_step, self.end_step,
                          self.velocity_bin], axis=1).astype(np.int64).reshape(-1, 5)
        return table[np.lexsort(table.T[::-1])]


def quantize_multitrack(arrays, num_velocity_bins, min_pitch=21, max_pitch=108,
                        drum_pitches=(27, 87), stats=None):
    """MultitrackNotes of quantized NoteArrays (beat-relative): the canonical form the
    codec round-trips. Notes outside the pitch ranges are dropped and counted."""
    if not arrays.is_quantized or not arrays.steps_per_quarter:
        raise ValueError(f"{arrays.filename or arrays.id}: multi-instrument events need a "
                         "beat-quantized sequence")
    instrument = instrument_of(arrays.program, arrays.is_drum)
    pitch = arrays.pitch.astype(np.int64)
    drum = instrument == DRUMS
    low = np.where(drum, drum_pitches[0], min_pitch)
    high = np.where(drum, drum_pitches[1], max_pitch)
    keep = (pitch >= low) & (pitch <= high)
    if stats is not None and (~keep).any():
        stats.count("multitrack_notes_outside_range", int((~keep).sum()))
    start = arrays.start_step[keep].astype(np.int64)
    end = arrays.end_step[keep].astype(np.int64)
    instrument, pitch, drum = instrument[keep], pitch[keep], drum[keep]
    velocity = arrays.velocity[keep].astype(np.int64)
    bins = (performances.velocity_to_bin(np.clip(velocity, 1, 127), num_velocity_bins)
            if num_velocity_bins else np.zeros(len(pitch), np.int64))
    end = np.where(drum, start + DRUM_STEPS, end)
    # One note per (instrument, pitch, start): doubled tracks merge, the loudest kept.
    order = np.lexsort((-bins, start, pitch, instrument))
    instrument, pitch, start, end, bins = (a[order] for a in (instrument, pitch, start, end,
                                                              bins))
    same = np.zeros(len(pitch), bool)
    same[1:] = ((instrument[1:] == instrument[:-1]) & (pitch[1:] == pitch[:-1])
                & (start[1:] == start[:-1]))
    if stats is not None and same.any():
        stats.count("multitrack_notes_merged", int(same.sum()))
    instrument, pitch, start, end, bins = (a[~same] for a in (instrument, pitch, start, end,
                                                              bins))
    # A note ends where its instrument plays the same pitch again (drums: theirs is fixed
    # and may overlap the next hit; the decoder gives every hit DRUM_STEPS).
    follows = np.zeros(len(pitch), bool)
    follows[:-1] = (instrument[1:] == instrument[:-1]) & (pitch[1:] == pitch[:-1])
    next_start = np.concatenate([start[1:], [0]])
    cut = follows & (instrument != DRUMS) & (next_start < end)
    end = np.where(cut, next_start, end)
    numerator, denominator = arrays.time_signature
    return MultitrackNotes(instrument, pitch, bins, start, end, int(arrays.steps_per_quarter),
                           float(arrays.qpm), (int(numerator), int(denominator)))


def notes_to_events(notes, max_shift_steps, style=None, instruments=None):
    """Event rows [N, 2] of MultitrackNotes: the prefix (when `style` is given: STYLE, then
    INSTRUMENT for each of `instruments`, default the ones that play), then the notes."""
    on = np.ones(len(notes), bool)
    pitched = notes.instrument != DRUMS
    # One entry per note-on and per pitched note-off, sorted as the codec reads them.
    step = np.concatenate([notes.start_step, notes.end_step[pitched]])
    is_on = np.concatenate([on, ~on[pitched]])
    value = np.concatenate([notes.instrument * 128 + notes.pitch,
                            notes.instrument[pitched] * 128 + notes.pitch[pitched]])
    bins = np.concatenate([notes.velocity_bin, np.zeros(int(pitched.sum()), np.int64)])
    order = np.lexsort((value, is_on, step))
    step, is_on, value, bins = step[order], is_on[order], value[order], bins[order]
    # A VELOCITY row before an onset whose bin differs from its instrument's last.
    has_velocity = np.zeros(len(step), bool)
    if len(step) and notes.velocity_bin.any():
        onsets = np.flatnonzero(is_on)
        owner = value[onsets] // 128
        by_owner = onsets[np.lexsort((onsets, owner))]
        owners = value[by_owner] // 128
        first = np.ones(len(by_owner), bool)
        first[1:] = owners[1:] != owners[:-1]
        changed = first.copy()
        changed[1:] |= bins[by_owner][1:] != bins[by_owner][:-1]
        has_velocity[by_owner[changed]] = True
    delta = np.diff(step, prepend=0)
    shifts = np.where(delta > 0, (delta - 1) // max_shift_steps + 1, 0)
    count = shifts + has_velocity + 1
    ends = np.cumsum(count)
    begins = ends - count
    events = np.empty((int(ends[-1]) if len(ends) else 0, 2), np.int64)
    events[ends - 1, 0] = np.where(is_on, NOTE_ON, NOTE_OFF)
    events[ends - 1, 1] = value
    events[ends[has_velocity] - 2] = np.stack(
        [np.full(int(has_velocity.sum()), VELOCITY), bins[has_velocity]], axis=1)
    performances.write_time_shifts(events, begins, delta, shifts, max_shift_steps)
    if style is None:
        return events.astype(np.int32)
    playing = notes.instruments if instruments is None else sorted(set(instruments))
    prefix = [(STYLE, int(style))] + [(INSTRUMENT, int(i)) for i in playing]
    return np.concatenate([np.asarray(prefix, np.int64).reshape(-1, 2),
                           events]).astype(np.int32)


def split_prefix(events):
    """(style or None, [instruments], the events after the prefix)."""
    events = np.asarray(events, np.int64).reshape(-1, 2)
    style, instruments, n = None, [], 0
    while n < len(events) and events[n, 0] in (STYLE, INSTRUMENT):
        if events[n, 0] == STYLE:
            style = int(events[n, 1])
        else:
            instruments.append(int(events[n, 1]))
        n += 1
    return style, instruments, events[n:]


def events_to_notes(events, steps_per_quarter, num_velocity_bins, qpm=120.0,
                    time_signature=(4, 4)):
    """MultitrackNotes from event rows (prefix rows, if any, are skipped). A NOTE_OFF ends
    the open note of its instrument and pitch; notes still open at the end end there;
    prefix events after the prefix (a sampler may write them) are ignored."""
    _, _, events = split_prefix(events)
    columns = {k: [] for k in ("instrument", "pitch", "velocity_bin", "start_step",
                               "end_step")}
    open_notes, velocity, pending, step = {}, {}, None, 0

    def add(instrument, pitch, begin, end, velocity_bin):
        for key, v in zip(columns, (instrument, pitch, velocity_bin, begin, end)):
            columns[key].append(v)

    for event_type, value in events.tolist():
        if event_type == TIME_SHIFT:
            step += value
        elif event_type == VELOCITY:
            pending = value
        elif event_type == NOTE_ON:
            instrument, pitch = divmod(value, 128)
            if pending is not None:
                velocity[instrument], pending = pending, None
            bin_ = velocity.get(instrument, 0)
            if instrument == DRUMS:
                add(instrument, pitch, step, step + DRUM_STEPS, bin_)
                continue
            if (instrument, pitch) in open_notes:  # replayed before its NOTE_OFF
                begin, old = open_notes.pop((instrument, pitch))
                if begin < step:
                    add(instrument, pitch, begin, step, old)
            open_notes[(instrument, pitch)] = (step, bin_)
        elif event_type == NOTE_OFF:
            instrument, pitch = divmod(value, 128)
            if (instrument, pitch) in open_notes:
                begin, bin_ = open_notes.pop((instrument, pitch))
                if begin < step:
                    add(instrument, pitch, begin, step, bin_)
    for (instrument, pitch), (begin, bin_) in open_notes.items():
        if begin < step:
            add(instrument, pitch, begin, step, bin_)
    arrays = {k: np.asarray(v, np.int64) for k, v in columns.items()}
    return MultitrackNotes(**arrays, steps_per_quarter=int(steps_per_quarter), qpm=float(qpm),
                           time_signature=tuple(time_signature))


def notes_to_note_sequence(notes, num_velocity_bins, programs=None):
    """A NoteSequence: one track (instrument number) per instrument, with `programs`
    ({instrument: GM program}) or the family's default program; drums on the drum kit."""
    programs = programs or {}
    sequence = music_pb2.NoteSequence()
    sequence.ticks_per_quarter = performances.STANDARD_PPQ
    sequence.tempos.add(qpm=notes.qpm)
    sequence.time_signatures.add(numerator=notes.time_signature[0],
                                 denominator=notes.time_signature[1])
    seconds_per_step = 60.0 / (notes.qpm * notes.steps_per_quarter)
    for n in range(len(notes)):
        instrument = int(notes.instrument[n])
        drum = instrument == DRUMS
        velocity = (performances.velocity_bin_to_velocity(int(notes.velocity_bin[n]),
                                                          num_velocity_bins)
                    if num_velocity_bins and notes.velocity_bin[n] else 100)
        sequence.notes.add(
            pitch=int(notes.pitch[n]), velocity=int(velocity), instrument=instrument,
            program=0 if drum else int(programs.get(instrument, DEFAULT_PROGRAMS[instrument])),
            is_drum=drum, start_time=float(notes.start_step[n]) * seconds_per_step,
            end_time=float(notes.end_step[n]) * seconds_per_step)
    sequence.total_time = max((n.end_time for n in sequence.notes), default=0.0)
    sequence.notes.sort(key=lambda n: (n.start_time, n.instrument, n.pitch))
    return sequence


def window_notes(notes, first_step, last_step):
    """The notes starting in [first_step, last_step), rebased to first_step, ends cut at
    last_step."""
    mine = (notes.start_step >= first_step) & (notes.start_step < last_step)
    end = np.minimum(notes.end_step[mine], last_step)
    drum = notes.instrument[mine] == DRUMS
    end = np.where(drum, notes.end_step[mine], end)
    return dataclasses.replace(
        notes, instrument=notes.instrument[mine], pitch=notes.pitch[mine],
        velocity_bin=notes.velocity_bin[mine], start_step=notes.start_step[mine] - first_step,
        end_step=end - first_step)


def style_of(name, styles):
    """The style index of a piece from its path: the first folder that names one of
    `styles` (0, "any", when none does)."""
    parts = str(name or "").replace("\\", "/").split("/")[:-1]
    for part in parts:
        key = part.lower()
        if key in styles:
            return styles.index(key)
    return 0


@dataclasses.dataclass(frozen=True)
class MultitrackExtractor:
    """Split on time changes -> beat quantization -> windows of `window_bars` bars every
    `hop_bars` bars -> prefixed events (style from the file's folder), at most
    `max_events` events (prefix included) each."""
    styles: tuple = ("any",)
    steps_per_quarter: int = 12
    max_shift_steps: int = 48
    num_velocity_bins: int = 8
    min_pitch: int = 21
    max_pitch: int = 108
    window_bars: int = 8
    hop_bars: int = 4
    min_notes: int = 8
    max_events: int = 1023
    kind = "multitrack"

    def windows(self, arrays, stats):
        """[(style, MultitrackNotes)] of one NoteArrays."""
        style = style_of(arrays.filename or arrays.id, self.styles)
        if stats is not None:
            stats.count(f"multitrack_style_{self.styles[style]}")
        out = []
        from musiczoo.pipelines.extract.extractors import quantized_parts
        for quantized in quantized_parts(arrays, self.steps_per_quarter, stats):
            notes = quantize_multitrack(quantized, self.num_velocity_bins, self.min_pitch,
                                        self.max_pitch, stats=stats)
            if not len(notes):
                continue
            bar = int(round(quantized.steps_per_bar_float))
            if bar < 1:
                stats.count("sequences_discarded_because_bad_time_signature")
                continue
            profile_counts(notes, quantized, self.styles[style],
                           len(notes_to_events(notes, self.max_shift_steps)), stats)
            length = int(notes.end_step.max())
            first = 0
            while first < length:
                window = window_notes(notes, first, first + self.window_bars * bar)
                if len(window) >= self.min_notes:
                    out.append((style, window))
                elif stats is not None:
                    stats.count("multitrack_windows_too_few_notes")
                if first + self.window_bars * bar >= length:
                    break
                first += self.hop_bars * bar
        return out

    def extract(self, sequences, stats):
        out = []
        for index, arrays in enumerate(sequences):
            for style, window in self.windows(arrays, stats):
                events = notes_to_events(window, self.max_shift_steps, style)
                if len(events) > self.max_events:
                    stats.count("multitrack_windows_truncated")
                    events = events[:self.max_events]
                out.append((index, events))
                stats.observe("multitrack_window_events", len(events))
        return out


def profile_counts(notes, quantized, style_name, tokens, stats):
    """Records one piece's figures for the style profile (see style_profile)."""
    bars = max(notes.end_step.max() / max(quantized.steps_per_bar_float, 1.0), 1.0)
    stats.observe(f"multitrack_qpm/{style_name}", round(float(quantized.qpm), 1))
    stats.observe(f"multitrack_meter/{style_name}", "/".join(map(str, notes.time_signature)))
    stats.observe(f"multitrack_instruments/{style_name}",
                  ",".join(str(i) for i in notes.instruments))
    stats.observe(f"multitrack_tokens_per_bar/{style_name}", int(round(tokens / bars)))
    programs = collections.Counter(
        (int(i), int(p)) for i, p in zip(instrument_of(quantized.program, quantized.is_drum),
                                          quantized.program) if i != DRUMS)
    for (instrument, program), count in programs.items():
        stats.observe(f"multitrack_program/{style_name}/{instrument}", program)


def check_instruments(instruments):
    """Instrument numbers from names or numbers; ValueError naming a bad one."""
    out = []
    for item in instruments:
        if isinstance(item, (int, np.integer)):
            if not 0 <= int(item) < NUM_INSTRUMENTS:
                raise SequenceError("bad_instrument", f"instrument {item} is outside "
                                    f"0..{NUM_INSTRUMENTS - 1}")
            out.append(int(item))
        else:
            if item not in INSTRUMENT_NAMES:
                raise SequenceError("bad_instrument", f"unknown instrument {item!r}")
            out.append(INSTRUMENT_NAMES.index(item))
    return sorted(set(out))
