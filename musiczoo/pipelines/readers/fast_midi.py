"""Standard MIDI File bytes -> NoteArrays in one compiled pass, without NoteSequence protos.

note_seq reads a MIDI file through mido (a Python object per message) and pretty_midi (a
float per tick, Python objects per note) into a protobuf, and the pipelines then read
every note back out of that protobuf: ~6.6 ms a file, against microseconds for the bytes.
Here one function compiled by numba walks the bytes and applies pretty_midi's semantics
as note_seq sees them, exactly:

* tempos, time signatures and key signatures from track 0 only; 120 qpm until the first
  tempo; a tempo at tick 0 replaces the default; a repeated tempo is no change; seconds
  per tick computed with the same float operations, so times agree to the last bit;
* a note-off (or a note-on with velocity 0) closes every open note of its track, channel
  and pitch that started on an earlier tick; one that started on the same tick stays
  open if an earlier one was closed, and is dropped otherwise (so zero-length notes
  vanish, as in note_seq); a note never closed is dropped;
* a note belongs to the program its channel has when the note ends, and to the
  instrument (program, channel, track) in the order instruments first received a note;
  drums are channel 10;
* control changes go where pretty_midi puts them, including its "straggler" lists that
  instruments of one channel share (so sustain pedals agree too).

symusic (checked, 0.6.0) parses MIDI ~200x faster than note_seq too, but into its own
semantics: it pairs same-pitch notes first-in-first-out, keeps zero-length notes, files
a note under the program at its note-on, and reads tempos and meters from every track;
a Score keeps neither channels nor program-change times, so those differences cannot be
detected afterwards. Hence our own pass.

Anything unusual (a structural problem mido would refuse, a malformed meta message,
sysex bytes over 127, system messages, a file near a limit) returns None and the caller reads that file through note_seq, which then accepts
it or names what is wrong; so this path never changes what is read, only how fast.
"""
import dataclasses

import numpy as np

from musiczoo.pipelines.extract import notearrays
from musiczoo.pipelines.readers import limits

try:
    import numba
except ImportError:  # the fast path is optional: everything still reads through note_seq
    numba = None

_MARGIN = 0.999  # files this close to a limit go the reference way, which names it


@dataclasses.dataclass
class FastMidi:
    """What the pass read besides the notes (the notes are in `arrays`)."""
    arrays: notearrays.NoteArrays
    ticks_per_quarter: int
    # (time, key 0..11, mode 0 major / 1 minor), as note_seq's key_signatures.
    key_signatures: list
    # Structured array (time, control_number, control_value, instrument, program, is_drum)
    # in note_seq's order of control_changes.
    control_changes: np.ndarray


CC_DTYPE = np.dtype([("time", np.float64), ("control_number", np.int32),
                     ("control_value", np.int32), ("instrument", np.int32),
                     ("program", np.int32), ("is_drum", bool)])


def _decode(data, max_ticks, max_quarters, max_events, max_notes, max_time_changes,
            max_message):
    """The compiled pass. Returns (ok, resolution, note arrays..., meta arrays...).

    `ok` is False when the file must go through note_seq. Ticks are absolute; notes are
    in pretty_midi's order (by instrument, then in the order they were closed).
    """
    n = data.size
    empty_i = np.zeros(0, np.int64)
    fail = (False, 0, empty_i, empty_i, empty_i, empty_i, empty_i, empty_i, empty_i,
            empty_i, empty_i, empty_i, empty_i, empty_i, empty_i, empty_i, empty_i,
            empty_i, empty_i, empty_i, empty_i, empty_i, empty_i)
    if n < 14:
        return fail
    if data[0] != 0x4D or data[1] != 0x54 or data[2] != 0x68 or data[3] != 0x64:  # MThd
        return fail
    header_size = (np.int64(data[4]) << 24) | (np.int64(data[5]) << 16) | \
        (np.int64(data[6]) << 8) | np.int64(data[7])
    if header_size < 6:
        return fail
    num_tracks = (np.int64(data[10]) << 8) | np.int64(data[11])
    division = (np.int64(data[12]) << 8) | np.int64(data[13])
    if num_tracks == 0 or num_tracks >= 0x8000 or division == 0 or division >= 0x8000:
        return fail
    tick_limit = min(max_ticks, max_quarters * division)
    cap = n // 2 + 2  # every message takes at least two bytes
    # Notes, in the order pretty_midi appends them to instruments.
    note_pitch = np.empty(cap, np.int64)
    note_velocity = np.empty(cap, np.int64)
    note_start = np.empty(cap, np.int64)
    note_end = np.empty(cap, np.int64)
    note_instrument = np.empty(cap, np.int64)
    notes = 0
    # Instruments: (program, channel, track) in creation order, each with a control list.
    inst_program = np.empty(cap, np.int64)
    inst_drum = np.empty(cap, np.int64)
    inst_group = np.empty(cap, np.int64)
    instruments = 0
    groups = 0
    cc_tick = np.empty(cap, np.int64)
    cc_number = np.empty(cap, np.int64)
    cc_value = np.empty(cap, np.int64)
    cc_group = np.empty(cap, np.int64)
    ccs = 0
    # Track 0's tempos, time and key signatures.
    tempo_tick = np.empty(cap, np.int64)
    tempo_value = np.empty(cap, np.int64)
    tempos = 0
    ts_tick = np.empty(cap, np.int64)
    ts_num = np.empty(cap, np.int64)
    ts_den = np.empty(cap, np.int64)
    time_sigs = 0
    ks_tick = np.empty(cap, np.int64)
    ks_number = np.empty(cap, np.int64)
    key_sigs = 0

    inst_index = np.empty(128 * 16, np.int64)
    straggler = np.empty(16, np.int64)
    program = np.empty(16, np.int64)
    # Open notes of each (channel, pitch): linked lists, oldest first, in a pool of nodes.
    head = np.empty(16 * 128, np.int64)
    tail = np.empty(16 * 128, np.int64)
    node_start = np.empty(cap, np.int64)
    node_velocity = np.empty(cap, np.int64)
    node_next = np.empty(cap, np.int64)
    nodes = 0

    events = 0
    note_ons = 0
    time_changes = 0
    max_tick = 0
    pos = 8 + header_size
    for track in range(num_tracks):
        if pos + 8 > n:
            return fail
        if data[pos] != 0x4D or data[pos + 1] != 0x54 or data[pos + 2] != 0x72 \
                or data[pos + 3] != 0x6B:  # MTrk
            return fail
        length = (np.int64(data[pos + 4]) << 24) | (np.int64(data[pos + 5]) << 16) | \
            (np.int64(data[pos + 6]) << 8) | np.int64(data[pos + 7])
        pos += 8
        start = pos
        tick = 0
        running = -1
        inst_index[:] = -1
        straggler[:] = -1
        program[:] = 0
        head[:] = -1
        while pos - start != length:
            if pos - start > length:  # mido reads on into the next chunk: leave it to mido
                return fail
            # Delta time.
            delta = 0
            while True:
                if pos >= n:
                    return fail
                byte = np.int64(data[pos])
                pos += 1
                delta = (delta << 7) | (byte & 0x7F)
                if byte < 0x80:
                    break
                if delta > tick_limit:
                    return fail
            tick += delta
            if tick > tick_limit:
                return fail
            if pos >= n:
                return fail
            status = np.int64(data[pos])
            pos += 1
            peeked = -1
            if status < 0x80:
                if running < 0 or running >= 0xF0:
                    return fail
                peeked = status
                status = running
            elif status != 0xFF:
                running = status
            events += 1
            if status == 0xFF or status == 0xF0 or status == 0xF7:
                meta = -1
                if status == 0xFF:
                    if pos >= n:
                        return fail
                    meta = np.int64(data[pos])
                    pos += 1
                size = 0
                while True:
                    if pos >= n:
                        return fail
                    byte = np.int64(data[pos])
                    pos += 1
                    size = (size << 7) | (byte & 0x7F)
                    if byte < 0x80:
                        break
                    if size > max_message:
                        return fail
                if size > max_message or pos + size > n:
                    return fail
                body = pos
                pos += size
                if status != 0xFF:  # sysex: mido refuses data bytes over 127
                    first = body
                    last = body + size
                    if size > 0 and data[first] == 0xF0:
                        first += 1
                    if last > first and data[last - 1] == 0xF7:
                        last -= 1
                    for k in range(first, last):
                        if data[k] > 0x7F:
                            return fail
                    continue
                if meta == 0x51:
                    time_changes += 1
                    if size != 3:
                        return fail
                    value = (np.int64(data[body]) << 16) | (np.int64(data[body + 1]) << 8) \
                        | np.int64(data[body + 2])
                    if value == 0:
                        return fail
                    if track == 0:
                        tempo_tick[tempos] = tick
                        tempo_value[tempos] = value
                        tempos += 1
                elif meta == 0x58:
                    time_changes += 1
                    if size != 4 or data[body] == 0 or data[body + 1] > 6:
                        return fail
                    if track == 0:
                        ts_tick[time_sigs] = tick
                        ts_num[time_sigs] = data[body]
                        ts_den[time_sigs] = 1 << data[body + 1]
                        time_sigs += 1
                elif meta == 0x59:
                    if size != 2:
                        return fail
                    sharps = np.int64(data[body])
                    if sharps > 127:
                        sharps -= 256
                    mode = np.int64(data[body + 1])
                    if sharps < -7 or sharps > 7 or mode > 1:
                        return fail
                    if track == 0:
                        ks_tick[key_sigs] = tick
                        ks_number[key_sigs] = (sharps * 7 + 9 * mode) % 12 + 12 * mode
                        key_sigs += 1
                elif meta == 0x00:
                    if size != 0 and size != 2:
                        return fail
                elif meta == 0x20 or meta == 0x2F:
                    if size != (1 if meta == 0x20 else 0):
                        return fail
                elif meta == 0x21:
                    if size > 1:
                        return fail
                elif meta == 0x54:
                    if size != 5 or (data[body] >> 5) > 3:
                        return fail
            else:
                if status >= 0xF0:  # system messages: rare in files, leave them to mido
                    return fail
                kind = status & 0xF0
                channel = status & 0x0F
                count = 1 if kind == 0xC0 or kind == 0xD0 else 2
                if peeked >= 0:
                    first_byte = peeked
                    count -= 1
                else:
                    if pos >= n:
                        return fail
                    first_byte = np.int64(data[pos])
                    pos += 1
                    count -= 1
                second = 0
                if count == 1:
                    if pos >= n:
                        return fail
                    second = np.int64(data[pos])
                    pos += 1
                if first_byte > 0x7F or second > 0x7F:
                    return fail
                if kind == 0x90 and second > 0:
                    note_ons += 1
                    key = channel * 128 + first_byte
                    node_start[nodes] = tick
                    node_velocity[nodes] = second
                    node_next[nodes] = -1
                    if head[key] < 0:
                        head[key] = nodes
                    else:
                        node_next[tail[key]] = nodes
                    tail[key] = nodes
                    nodes += 1
                elif kind == 0x80 or kind == 0x90:
                    key = channel * 128 + first_byte
                    if head[key] >= 0:
                        closed = 0
                        node = head[key]
                        while node >= 0:
                            if node_start[node] != tick:
                                closed += 1
                            node = node_next[node]
                        kept_head = -1
                        if closed > 0:
                            slot = program[channel] * 16 + channel
                            inst = inst_index[slot]
                            if inst < 0:
                                inst = instruments
                                instruments += 1
                                inst_index[slot] = inst
                                inst_program[inst] = program[channel]
                                inst_drum[inst] = 1 if channel == 9 else 0
                                if straggler[channel] >= 0:
                                    inst_group[inst] = straggler[channel]
                                else:
                                    inst_group[inst] = groups
                                    groups += 1
                            kept_tail = -1
                            node = head[key]
                            while node >= 0:
                                following = node_next[node]
                                if node_start[node] != tick:
                                    note_pitch[notes] = first_byte
                                    note_velocity[notes] = node_velocity[node]
                                    note_start[notes] = node_start[node]
                                    note_end[notes] = tick
                                    note_instrument[notes] = inst
                                    notes += 1
                                else:  # started on this tick: stays open
                                    node_next[node] = -1
                                    if kept_head < 0:
                                        kept_head = node
                                    else:
                                        node_next[kept_tail] = node
                                    kept_tail = node
                                node = following
                            tail[key] = kept_tail
                        # None closed: pretty_midi drops the notes of this tick too.
                        head[key] = kept_head
                elif kind == 0xC0:
                    program[channel] = first_byte
                elif kind == 0xB0 or kind == 0xE0:
                    # pretty_midi files these under the instrument of the channel's current
                    # program, or else a straggler list of the channel (created here).
                    slot = program[channel] * 16 + channel
                    inst = inst_index[slot]
                    if inst >= 0:
                        group = inst_group[inst]
                    elif straggler[channel] >= 0:
                        group = straggler[channel]
                    else:
                        group = groups
                        groups += 1
                        straggler[channel] = group
                    if kind == 0xB0:
                        cc_tick[ccs] = tick
                        cc_number[ccs] = first_byte
                        cc_value[ccs] = second
                        cc_group[ccs] = group
                        ccs += 1
            if events >= max_events or note_ons > max_notes or time_changes > max_time_changes:
                return fail
        if tick > max_tick:
            max_tick = tick
    return (True, division, note_pitch[:notes], note_velocity[:notes], note_start[:notes],
            note_end[:notes], note_instrument[:notes], inst_program[:instruments],
            inst_drum[:instruments], inst_group[:instruments], cc_tick[:ccs],
            cc_number[:ccs], cc_value[:ccs], cc_group[:ccs], tempo_tick[:tempos],
            tempo_value[:tempos], ts_tick[:time_sigs], ts_num[:time_sigs], ts_den[:time_sigs],
            ks_tick[:key_sigs], ks_number[:key_sigs], np.array([max_tick], np.int64),
            np.array([events], np.int64))


if numba is not None:
    _compiled = numba.njit(cache=True, nogil=True)(_decode)
else:
    _compiled = None


def available():
    """True when the compiled pass can run (numba installed)."""
    return _compiled is not None


def _tick_scales(resolution, tempo_ticks, tempo_values):
    """pretty_midi's (tick, seconds per tick) list from track 0's tempos, same floats."""
    scales = [(0, 60.0 / (120.0 * resolution))]
    for tick, value in zip(tempo_ticks.tolist(), tempo_values.tolist()):
        if tick == 0:
            scales = [(0, 60.0 / ((6e7 / value) * resolution))]
        else:
            scale = 60.0 / ((6e7 / value) * resolution)
            if scale != scales[-1][1]:
                scales.append((tick, scale))
    return scales


class _Clock:
    """Seconds of ticks as pretty_midi's tick table holds them (same float operations)."""

    def __init__(self, scales):
        self.starts = np.array([tick for tick, _ in scales], np.int64)
        self.rates = np.array([scale for _, scale in scales], np.float64)
        self.bases = np.zeros(len(scales), np.float64)
        for i in range(1, len(scales)):
            self.bases[i] = self.bases[i - 1] + self.rates[i - 1] * np.float64(
                self.starts[i] - self.starts[i - 1])

    def __call__(self, ticks):
        if len(self.starts) == 1:
            return self.rates[0] * ticks.astype(np.float64)  # 0.0 + x is x
        segment = np.searchsorted(self.starts, ticks, side="right") - 1
        return self.bases[segment] + self.rates[segment] * (
            ticks - self.starts[segment]).astype(np.float64)


def decode(data, source=""):
    """MIDI bytes -> FastMidi, or None when the file must be read through note_seq."""
    if _compiled is None or not data or len(data) > limits.MAX_FILE_BYTES:
        return None
    result = _compiled(np.frombuffer(data, np.uint8), limits.MAX_TICKS, limits.MAX_QUARTERS,
                       limits.MAX_EVENTS, limits.MAX_NOTES, limits.MAX_TIME_CHANGES,
                       limits.MAX_MESSAGE_BYTES)
    (ok, resolution, pitch, velocity, start_tick, end_tick, instrument, inst_program,
     inst_drum, inst_group, cc_tick, cc_number, cc_value, cc_group, tempo_tick, tempo_value,
     ts_tick, ts_num, ts_den, ks_tick, ks_number, max_tick, _) = result
    if not ok:
        return None
    scales = _tick_scales(resolution, tempo_tick, tempo_value)
    clock = _Clock(scales)
    # Near the length limits, let the reference path decide (and name the reason).
    if int(max_tick[0]) > _MARGIN * limits.MAX_QUARTERS * resolution or \
            float(clock(max_tick)[0]) > _MARGIN * limits.MAX_SECONDS:
        return None
    # note_seq's order: instrument by instrument, each in the order notes were closed;
    # NoteArrays then sorts by start time, stably.
    order = np.argsort(instrument, kind="stable")
    start = clock(start_tick[order])
    end = clock(end_tick[order])
    if len(start) > 1:
        by_start = np.argsort(start, kind="stable")
        order, start, end = order[by_start], start[by_start], end[by_start]
    note_instrument = instrument[order]
    arrays = notearrays.NoteArrays(
        id="", filename=source,
        pitch=pitch[order].astype(np.int32), velocity=velocity[order].astype(np.int32),
        instrument=note_instrument.astype(np.int32),
        program=inst_program[note_instrument].astype(np.int32),
        is_drum=inst_drum[note_instrument].astype(bool),
        start_time=start, end_time=end,
        total_time=float(end.max()) if len(end) else 0.0,
        time_signatures=[(t, int(a), int(b)) for t, a, b in
                         zip(clock(ts_tick).tolist(), ts_num.tolist(), ts_den.tolist())],
        tempos=[(t, 60.0 / (scale * resolution)) for t, (_, scale) in
                zip(clock(clock.starts).tolist(), scales)])
    key_signatures = [(t, k % 12, k // 12)
                      for t, k in zip(clock(ks_tick).tolist(), ks_number.tolist())]
    return FastMidi(arrays, int(resolution), key_signatures,
                    _control_changes(cc_tick, cc_number, cc_value, cc_group, inst_program,
                                     inst_drum, inst_group, clock))


def _control_changes(tick, number, value, group, inst_program, inst_drum, inst_group, clock):
    """note_seq's control_changes: instrument by instrument, each its list in order (lists
    that pretty_midi shares between instruments appear under each of them)."""
    if not len(tick):
        return np.zeros(0, CC_DTYPE)
    pieces = []
    for inst, owner in enumerate(inst_group.tolist()):
        index = np.flatnonzero(group == owner)
        if len(index):
            pieces.append((inst, index))
    total = sum(len(index) for _, index in pieces)
    out = np.zeros(total, CC_DTYPE)
    at = 0
    times = clock(tick)
    for inst, index in pieces:
        part = out[at:at + len(index)]
        part["time"], part["control_number"], part["control_value"] = (
            times[index], number[index], value[index])
        part["instrument"], part["program"] = inst, inst_program[inst]
        part["is_drum"] = bool(inst_drum[inst])
        at += len(index)
    return out


def warm_up():
    """Compiles (or loads the cached compilation of) the pass; a no-op without numba."""
    if _compiled is not None:
        decode(_TINY_MIDI)


# A one-note file: header, one track (tempo, note on, note off, end of track).
_TINY_MIDI = (b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x60"
              b"MTrk\x00\x00\x00\x13\x00\xff\x51\x03\x07\xa1\x20\x00\x90\x3c\x40"
              b"\x60\x80\x3c\x00\x00\xff\x2f\x00")
