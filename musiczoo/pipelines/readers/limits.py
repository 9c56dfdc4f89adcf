"""What one untrusted input may cost: limits checked before and after parsing.

A music file from the internet is input, not trusted data. note_seq raises pretty_midi's
tick limit to 1e10 and pretty_midi allocates 8 bytes per tick, so a 163-byte MIDI file
with one delta-time of 0x0FFFFFFF ticks made a dataset run grow to 6.9 GB. Here:

* `scan_midi` walks a Standard MIDI File's bytes the way mido will (header, every MTrk,
  variable-length quantities, running status, meta and sysex lengths) in time linear in
  the file size and memory independent of tick values, and refuses it before pretty_midi
  sees it when its largest tick, length, event, note or time-change counts are over the
  limits below;
* `check_zip` refuses a compressed MusicXML (.mxl) that would unpack to too much;
* `check_sequence` refuses a parsed NoteSequence (from any reader, a TFRecord or TFDS)
  whose values would break or blow up the pipelines (NaN or negative times, pitches
  outside 0..127, days of music: quantization allocates per step).

Each raises `LimitError(reason, detail)`; `errors` turns it into a ReadError naming the file.
"""
import dataclasses
import math
import operator
import zipfile

import numpy as np

# --- The limits, in one place. Measured on the reference machine (2 cores, note_seq 0.0.5).
# Bytes of one music file (MIDI, MusicXML, ABC) read into memory. The largest real MIDI
# files are a few MB (a 1,000,000-note piano file is 6 MB); a full orchestral score in
# uncompressed MusicXML can reach tens of MB.
MAX_FILE_BYTES = 64 * 2 ** 20
# Bytes a .mxl (zip) may unpack to: the same bound as a plain MusicXML file.
MAX_UNZIPPED_BYTES = 64 * 2 ** 20
# Largest absolute tick: pretty_midi builds a tick -> seconds table of float64 per tick
# plus numpy temporaries, ~22 bytes per tick at its peak (2e7 ticks: ~450 MB). 2e7 ticks
# are 5.8 hours at 120 qpm and 480 ticks per quarter, 2.9 hours at 960.
MAX_TICKS = 20_000_000
# MIDI messages (channel, meta, sysex): mido keeps one Python object per message and
# pretty_midi more per note; ~8 us and ~0.5 KB each to read (5e6: ~40 s, ~2.5 GB).
MAX_EVENTS = 5_000_000
# Notes (note-ons with velocity > 0; NoteSequence notes): a 1,000,000-note file reads in
# ~16 s at ~1 GB, so twice that is allowed.
MAX_NOTES = 2_000_000
# Tempo and time-signature changes: each one splits a sequence before quantization.
MAX_TIME_CHANGES = 100_000
# Seconds of music, and quarter notes at the sequence's tempos: quantization and the
# extractors allocate per step, and a step is a fraction of a quarter (or of a second).
# The MIDI scan applies both from the ticks and track 0's tempos, before pretty_midi runs.
MAX_SECONDS = 4 * 3600.0
MAX_QUARTERS = 200_000  # 4 hours at 833 qpm; 800,000 steps at 4 steps per quarter
# mido's own refusal (mido.midifiles.midifiles.MAX_MESSAGE_LENGTH): a meta or sysex
# message longer than this cannot be read anyway.
MAX_MESSAGE_BYTES = 1_000_000
DEFAULT_QPM = 120.0  # note_seq's tempo for a sequence without one


class LimitError(ValueError):
    """An input over a limit or structurally broken; `reason` is a READ_ERROR_REASONS key."""

    def __init__(self, reason, detail):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


@dataclasses.dataclass(frozen=True)
class MidiSummary:
    """What a Standard MIDI File holds, counted without parsing its messages into objects."""
    format: int
    tracks: int
    ticks_per_quarter: int
    max_tick: int
    events: int
    notes: int
    time_changes: int
    seconds: float  # of the last event, at the tempos of track 0


def _fmt(n):
    return f"{n:,}"


# Data bytes after the status byte, by status (mido's SPEC_BY_STATUS); None: undefined.
_DATA_BYTES = [None] * 0x80 + [2] * 0x40 + [1] * 0x20 + [2] * 0x10 + [None] * 0x10
for _status, _length in {0xF1: 1, 0xF2: 2, 0xF3: 1, 0xF6: 0, 0xF8: 0, 0xFA: 0, 0xFB: 0,
                         0xFC: 0, 0xFE: 0}.items():
    _DATA_BYTES[_status] = _length
_TEMPO, _TIME_SIGNATURE = 0x51, 0x58


def _corrupt(detail):
    return LimitError("corrupt_midi", detail)


def _ends_early(where):
    return _corrupt(f"the data ends early, {where}")


def _quantity(data, pos, limit, track):
    """(value, position after it) of the variable-length quantity at `pos`; stops reading
    once the value passes `limit` (so a long run of 0x80 bytes stays linear)."""
    value = 0
    size = len(data)
    while True:
        if pos >= size:
            raise _ends_early(f"in track {track + 1}")
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80 or value > limit:
            return value, pos


def scan_midi(data):
    """Counts a Standard MIDI File's contents; raises LimitError when it is over a limit
    or so broken that mido would fail on it too.

    Follows mido's reader exactly (it reads the number of tracks the header gives, and a
    track until the read position is exactly its declared length), so the counts are the
    objects mido and pretty_midi would build. Stops at the first limit passed.
    """
    size = len(data)
    if size > MAX_FILE_BYTES:
        raise LimitError("file_too_large", f"{_fmt(size)} bytes; the limit is "
                                           f"{_fmt(MAX_FILE_BYTES)}")
    if data[:4] != b"MThd":
        raise LimitError("not_midi", f"starts with {bytes(data[:4])!r}")
    header_size = int.from_bytes(data[4:8], "big")
    if size < 14 or header_size < 6:
        raise _ends_early("in the MThd header")
    file_format, num_tracks, division = (int.from_bytes(data[i:i + 2], "big", signed=True)
                                         for i in (8, 10, 12))
    if division < 0:
        raise LimitError("unsupported_midi", f"SMPTE time division ({-(division >> 8)} frames "
                         f"per second); only ticks per quarter note are supported")
    if division == 0:
        raise _corrupt("the header gives 0 ticks per quarter note")
    if num_tracks <= 0:  # mido reads the count as signed: 0x8000 and up are no tracks
        raise _corrupt(f"the header gives {num_tracks & 0xFFFF} tracks"
                       + (", over 32,767" if num_tracks else ""))
    pos = 8 + header_size
    # A tick is 1/division of a quarter note whatever the tempo, so this also bounds the
    # quarter notes (check_sequence's MAX_QUARTERS) before pretty_midi allocates per tick.
    tick_limit = min(MAX_TICKS, MAX_QUARTERS * division)
    max_tick = events = notes = time_changes = 0
    tempos = []  # (tick, microseconds per quarter) of track 0, the only ones pretty_midi reads
    data_bytes = _DATA_BYTES
    for track in range(num_tracks):
        if pos + 8 > size:
            raise _ends_early(f"before track {track + 1} of {num_tracks}")
        if data[pos:pos + 4] != b"MTrk":
            raise _corrupt(f"no MTrk chunk where track {track + 1} should start "
                           f"(found {bytes(data[pos:pos + 4])!r})")
        length = int.from_bytes(data[pos + 4:pos + 8], "big")
        start = pos = pos + 8
        tick, running = 0, None
        # mido stops a track only when it has read exactly `length` bytes of it.
        while pos - start != length:
            # Delta time (a variable-length quantity; mido takes any number of bytes).
            delta, pos = _quantity(data, pos, tick_limit, track)
            tick += delta
            if tick > tick_limit:
                raise LimitError("midi_too_long", _too_long(track, division, tick_limit))
            if pos >= size:
                raise _ends_early(f"in track {track + 1}")
            status = data[pos]
            pos += 1
            peeked = 0
            if status < 0x80:  # running status: this byte is the first data byte
                if running is None:
                    raise _corrupt(f"track {track + 1}: running status without a status byte")
                status, peeked = running, 1
            elif status != 0xFF:  # meta messages do not set running status (sysex does)
                running = status
            if status == 0xFF or status == 0xF0 or status == 0xF7:
                if status == 0xFF:
                    if pos >= size:
                        raise _ends_early(f"in track {track + 1}")
                    meta = data[pos]
                    if meta == _TEMPO or meta == _TIME_SIGNATURE:
                        time_changes += 1
                    pos += 1
                message, pos = _quantity(data, pos, MAX_MESSAGE_BYTES, track)
                if message > MAX_MESSAGE_BYTES:
                    raise _corrupt(f"track {track + 1}: a message of over "
                                   f"{_fmt(MAX_MESSAGE_BYTES)} bytes")
                if status == 0xFF and meta == _TEMPO and track == 0 and message == 3:
                    tempos.append((tick, int.from_bytes(data[pos:pos + 3], "big")))
                pos += message
                if pos > size:
                    raise _ends_early(f"in track {track + 1}")
            else:
                count = data_bytes[status]
                if count is None:
                    raise _corrupt(f"track {track + 1}: undefined status byte 0x{status:02x}")
                count -= peeked
                if count > 0:  # 1 or 2 bytes
                    if pos + count > size:
                        raise _ends_early(f"in track {track + 1}")
                    if (data[pos] | data[pos + count - 1]) > 0x7F:
                        raise _corrupt(f"track {track + 1}: a data byte over 127")
                    pos += count
                if status & 0xF0 == 0x90 and data[pos - 1]:  # velocity 0 is a note-off
                    notes += 1
            events += 1
            if events > MAX_EVENTS or notes > MAX_NOTES or time_changes > MAX_TIME_CHANGES:
                raise LimitError("midi_too_many_events", _too_many(events, notes, time_changes))
        max_tick = max(max_tick, tick)
    seconds = _seconds(tempos, max_tick, division)
    if seconds > MAX_SECONDS:
        raise LimitError("midi_too_long", f"its last event is at {seconds:,.0f} s at its "
                         f"tempos; the limit is {MAX_SECONDS:,.0f} s")
    return MidiSummary(file_format, num_tracks, division, max_tick, events, notes, time_changes,
                       seconds)


def _seconds(tempos, end_tick, division):
    """Seconds to `end_tick` as pretty_midi times it: 120 qpm until the first tempo."""
    seconds, last_tick, tempo = 0.0, 0, 500_000
    for tick, value in tempos:  # in file order: the ticks of one track never decrease
        seconds += (min(tick, end_tick) - last_tick) * tempo
        last_tick, tempo = min(tick, end_tick), value
    return (seconds + (end_tick - last_tick) * tempo) / 1e6 / division


def _too_long(track, division, tick_limit):
    if tick_limit == MAX_TICKS:
        return (f"a delta-time takes track {track + 1} past tick {_fmt(MAX_TICKS)}, the limit: "
                f"pretty_midi allocates memory per tick")
    return (f"track {track + 1} runs past {_fmt(MAX_QUARTERS)} quarter notes, the limit "
            f"({_fmt(division)} ticks per quarter)")


def _too_many(events, notes, time_changes):
    for what, n, limit in (("messages", events, MAX_EVENTS), ("notes", notes, MAX_NOTES),
                           ("tempo and time-signature changes", time_changes, MAX_TIME_CHANGES)):
        if n > limit:
            return f"over {_fmt(limit)} {what}, the limit"
    return ""


def check_zip(path):
    """Refuses a zip (.mxl) whose members would unpack to over MAX_UNZIPPED_BYTES.

    zipfile stops at each member's declared size, so the declared sizes bound what
    note_seq can unpack. A file that is not a zip passes: note_seq reports that itself.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return
    if unpacked > MAX_UNZIPPED_BYTES:
        raise LimitError("file_too_large", f"unzips to {_fmt(unpacked)} bytes; the limit is "
                                           f"{_fmt(MAX_UNZIPPED_BYTES)}")


_NOTE = operator.attrgetter("pitch", "velocity", "start_time", "end_time")
_NOTE_DTYPE = np.dtype([("pitch", np.int64), ("velocity", np.int64), ("start", np.float64),
                        ("end", np.float64)])
# Every other timed list of a NoteSequence; each time must be in [0, MAX_SECONDS].
_TIMED_FIELDS = ("tempos", "time_signatures", "key_signatures", "pitch_bends",
                 "control_changes", "text_annotations", "section_annotations")


def _invalid(detail):
    return LimitError("invalid_sequence", detail)


def check_sequence(sequence):
    """Raises LimitError unless a NoteSequence is safe for the pipelines.

    Times finite and non-negative, end >= start, pitches and velocities in 0..127, at most
    MAX_SECONDS of music and MAX_QUARTERS quarter notes at its tempos, at most MAX_NOTES
    notes and MAX_EVENTS events, tempos finite and > 0, time signatures n/d with n >= 0
    and d >= 1.
    """
    notes = sequence.notes
    events = len(notes) + sum(len(getattr(sequence, name)) for name in _TIMED_FIELDS)
    if len(notes) > MAX_NOTES or events > MAX_EVENTS:
        raise LimitError("sequence_too_many_events", f"{_fmt(len(notes))} notes, "
                         f"{_fmt(events)} events; the limits are {_fmt(MAX_NOTES)} notes, "
                         f"{_fmt(MAX_EVENTS)} events")
    # The first tempo and time signature are no changes (pretty_midi adds 120 qpm at 0).
    time_changes = max(len(sequence.tempos) - 1, 0) + max(len(sequence.time_signatures) - 1, 0)
    if time_changes > MAX_TIME_CHANGES:
        raise LimitError("sequence_too_many_events", f"{_fmt(time_changes)} tempo and time-"
                         f"signature changes; the limit is {_fmt(MAX_TIME_CHANGES)}")
    table = np.fromiter(map(_NOTE, notes), dtype=_NOTE_DTYPE, count=len(notes))
    for name in ("pitch", "velocity"):
        values = table[name]
        bad = (values < 0) | (values > 127)
        if bad.any():
            raise _invalid(f"note {int(bad.argmax())}: {name} {int(values[bad][0])} "
                           f"outside 0..127")
    starts, ends = table["start"], table["end"]
    _check_times(starts, "note start")
    _check_times(ends, "note end")
    backwards = ends < starts
    if backwards.any():
        k = int(backwards.argmax())
        raise _invalid(f"note {k} ends ({ends[k]}) before it starts ({starts[k]})")
    for name in _TIMED_FIELDS:
        items = getattr(sequence, name)
        if items:
            _check_times(np.fromiter((item.time for item in items), np.float64, len(items)),
                         f"{name[:-1].replace('_', ' ')} time")
    _check_times(np.array([sequence.total_time]), "total_time")
    for tempo in sequence.tempos:
        if not (math.isfinite(tempo.qpm) and tempo.qpm > 0):
            raise _invalid(f"a tempo of {tempo.qpm} qpm at {tempo.time} s")
    # Not 1..255 over powers of two: note_seq's MusicXML reader writes a partial measure's
    # length as its signature (3083/2688, 0/1 in music21's Beethoven and Schumann scores).
    for signature in sequence.time_signatures:
        if not (signature.numerator >= 0 and signature.denominator >= 1):
            raise _invalid(f"a time signature of {signature.numerator}/"
                           f"{signature.denominator} at {signature.time} s")
    end = max(sequence.total_time, float(ends.max()) if len(ends) else 0.0)
    quarters = _quarters(sequence.tempos, end)
    if quarters > MAX_QUARTERS:
        raise LimitError("sequence_too_long", f"{_fmt(round(quarters))} quarter notes at its "
                         f"tempos; the limit is {_fmt(MAX_QUARTERS)}")


def _check_times(times, what):
    bad = ~np.isfinite(times) | (times < 0)
    if bad.any():
        k = int(bad.argmax())
        raise _invalid(f"{what} {times[k]}" + (f" (item {k})" if len(times) > 1 else ""))
    if len(times) and times.max() > MAX_SECONDS:
        raise LimitError("sequence_too_long", f"{what} at {float(times.max()):,.0f} s; the "
                         f"limit is {MAX_SECONDS:,.0f} s")


def _quarters(tempos, end):
    """Quarter notes from 0 to `end` seconds: 120 qpm until the first tempo, as in note_seq."""
    changes = sorted(((t.time, t.qpm) for t in tempos if t.time < end), key=lambda c: c[0])
    if not changes or changes[0][0] > 0:
        changes.insert(0, (0.0, DEFAULT_QPM))
    stops = [time for time, _ in changes[1:]] + [end]
    return sum((stop - time) * qpm / 60.0 for (time, qpm), stop in zip(changes, stops))
