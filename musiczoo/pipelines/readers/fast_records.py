"""Serialized NoteSequence bytes -> NoteArrays in one compiled pass, without upb objects.

Reading a NoteSequence's notes out of protobuf objects (one Python attribute access per
field per note) was ~60% of the melody pipeline's time. A TFRecord of NoteSequences
already holds the bytes, so here one numba-compiled function reads the protobuf wire
format of the fields the pipelines use (notes, tempos, time signatures, total_time, id,
filename, subsequence offset) straight into arrays, and the times of every other timed
list, so that `limits.check_sequence`'s checks run on arrays.

Field numbers are NoteSequence's (checked against note_seq's descriptor at import: if
they ever differ, this path turns itself off). Anything the checks would refuse, bytes
that do not parse, or strings that are not UTF-8 return None, and the caller takes the
reference path (protobuf parse, check_sequence), which names the problem: the result
is never different, only faster.
"""
import numpy as np

from musiczoo.pipelines.extract import notearrays
from musiczoo.pipelines.readers import limits

try:
    import numba
except ImportError:
    numba = None

# NoteSequence: 1 id, 2 filename, 5 time_signatures, 6 key_signatures, 7 tempos, 8 notes,
# 9 total_time, 10 pitch_bends, 11 control_changes, 14 text_annotations,
# 17 subsequence_info, 20 section_annotations. Note: 1 pitch, 2 velocity, 3 start_time,
# 4 end_time, 7 instrument, 8 program, 9 is_drum. Each timed message: 1 time (double).
_LAYOUT = {
    "NoteSequence": {"id": 1, "filename": 2, "time_signatures": 5, "key_signatures": 6,
                     "tempos": 7, "notes": 8, "total_time": 9, "pitch_bends": 10,
                     "control_changes": 11, "text_annotations": 14, "subsequence_info": 17,
                     "section_annotations": 20},
    "Note": {"pitch": 1, "velocity": 2, "start_time": 3, "end_time": 4, "instrument": 7,
             "program": 8, "is_drum": 9},
    "TimeSignature": {"time": 1, "numerator": 2, "denominator": 3},
    "Tempo": {"time": 1, "qpm": 2},
    "KeySignature": {"time": 1}, "PitchBend": {"time": 1}, "ControlChange": {"time": 1},
    "TextAnnotation": {"time": 1}, "SectionAnnotation": {"time": 1},
    "SubsequenceInfo": {"start_time_offset": 1},
}


def _layout_matches():
    from note_seq.protobuf import music_pb2

    for message, fields in _LAYOUT.items():
        descriptor = (music_pb2.NoteSequence if message == "NoteSequence"
                      else getattr(music_pb2.NoteSequence, message)).DESCRIPTOR
        for name, number in fields.items():
            if name not in descriptor.fields_by_name or \
                    descriptor.fields_by_name[name].number != number:
                return False
    return True


def _varint(data, pos, end):
    """(value, position after) of the varint at pos; position -1 when malformed."""
    value = 0
    shift = 0
    while True:
        if pos >= end or shift > 63:
            return 0, -1
        byte = np.int64(data[pos])
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _int32(value):
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= (1 << 31) else value


def _double(data, pos, scratch, as_double):
    """The little-endian double at pos (protobuf's fixed64), through an 8-byte scratch."""
    for k in range(8):
        scratch[k] = data[pos + k]
    return as_double[0]


def _skip(data, pos, end, wire):
    """Position after a field of wire type `wire` whose tag ended at pos; -1 if malformed."""
    if wire == 0:
        _, pos = _varint(data, pos, end)
        return pos
    if wire == 1:
        return pos + 8 if pos + 8 <= end else -1
    if wire == 2:
        size, pos = _varint(data, pos, end)
        if pos < 0 or size < 0 or pos + size > end:
            return -1
        return pos + size
    if wire == 5:
        return pos + 4 if pos + 4 <= end else -1
    return -1  # groups (3, 4) and undefined wire types: not in NoteSequence


def _parse(data, max_seconds):
    """The compiled pass: (ok, notes as 7 arrays, ts (time, num, den), tempos (time, qpm),
    times of the other timed lists, scalars [total_time, start_offset, has_offset],
    string spans [id start, id end, filename start, filename end])."""
    n = data.size
    cap = n // 2 + 1
    pitch = np.zeros(cap, np.int64)
    velocity = np.zeros(cap, np.int64)
    instrument = np.zeros(cap, np.int64)
    program = np.zeros(cap, np.int64)
    drum = np.zeros(cap, np.int64)
    start = np.zeros(cap, np.float64)
    end_time = np.zeros(cap, np.float64)
    notes = 0
    ts = np.zeros((cap, 3), np.float64)
    time_sigs = 0
    tempo = np.zeros((cap, 2), np.float64)
    tempos = 0
    other = np.zeros(cap, np.float64)
    others = 0
    scalars = np.zeros(3, np.float64)
    spans = np.zeros(4, np.int64)
    scratch = np.zeros(8, np.uint8)
    as_double = scratch.view(np.float64)
    ok = True
    pos = 0
    while pos < n:
        tag, pos = _varint(data, pos, n)
        if pos < 0:
            ok = False
            break
        field = tag >> 3
        wire = tag & 7
        if field == 9 and wire == 1:
            if pos + 8 > n:
                ok = False
                break
            scalars[0] = _double(data, pos, scratch, as_double)
            pos += 8
            continue
        if wire != 2 or not (field == 1 or field == 2 or field == 5 or field == 6
                             or field == 7 or field == 8 or field == 10 or field == 11
                             or field == 14 or field == 17 or field == 20):
            pos = _skip(data, pos, n, wire)
            if pos < 0:
                ok = False
                break
            continue
        size, pos = _varint(data, pos, n)
        if pos < 0 or size < 0 or pos + size > n:
            ok = False
            break
        sub_end = pos + size
        if field == 1 or field == 2:
            k = 0 if field == 1 else 2
            spans[k] = pos
            spans[k + 1] = sub_end
            pos = sub_end
            continue
        if field == 8:
            pitch[notes] = 0
            velocity[notes] = 0
            instrument[notes] = 0
            program[notes] = 0
            drum[notes] = 0
            start[notes] = 0.0
            end_time[notes] = 0.0
        elif field == 5:
            ts[time_sigs, 0] = 0.0
            ts[time_sigs, 1] = 0.0
            ts[time_sigs, 2] = 0.0
        elif field == 7:
            tempo[tempos, 0] = 0.0
            tempo[tempos, 1] = 0.0
        elif field != 17:
            other[others] = 0.0
        while pos < sub_end:
            sub_tag, pos = _varint(data, pos, sub_end)
            if pos < 0:
                break
            number = sub_tag >> 3
            sub_wire = sub_tag & 7
            if sub_wire == 1:
                if pos + 8 > sub_end:
                    pos = -1
                    break
                value = _double(data, pos, scratch, as_double)
                pos += 8
                if field == 8:
                    if number == 3:
                        start[notes] = value
                    elif number == 4:
                        end_time[notes] = value
                elif number == 1:
                    if field == 5:
                        ts[time_sigs, 0] = value
                    elif field == 7:
                        tempo[tempos, 0] = value
                    elif field == 17:
                        scalars[1] = value
                    else:
                        other[others] = value
                elif number == 2 and field == 7:
                    tempo[tempos, 1] = value
            elif sub_wire == 0:
                raw, pos = _varint(data, pos, sub_end)
                if pos < 0:
                    break
                if field == 8:
                    if number == 1:
                        pitch[notes] = _int32(raw)
                    elif number == 2:
                        velocity[notes] = _int32(raw)
                    elif number == 7:
                        instrument[notes] = _int32(raw)
                    elif number == 8:
                        program[notes] = _int32(raw)
                    elif number == 9:
                        drum[notes] = 1 if raw != 0 else 0
                elif field == 5 and (number == 2 or number == 3):
                    ts[time_sigs, number - 1] = _int32(raw)
            else:
                pos = _skip(data, pos, sub_end, sub_wire)
                if pos < 0:
                    break
        if pos != sub_end:
            ok = False
            break
        if field == 8:
            notes += 1
        elif field == 5:
            time_sigs += 1
        elif field == 7:
            tempos += 1
        elif field == 17:
            scalars[2] = 1.0
        else:
            others += 1
    if ok:
        ok = _checks(pitch[:notes], velocity[:notes], start[:notes], end_time[:notes],
                     ts[:time_sigs], tempo[:tempos], other[:others], scalars[0], max_seconds)
    order = np.argsort(start[:notes], kind="mergesort")  # stable, as from_note_sequence
    return (ok, pitch[order], velocity[order], instrument[order], program[order],
            drum[order], start[order], end_time[order], ts[:time_sigs], tempo[:tempos],
            other[:others], scalars, spans)


def _time_ok(value, max_seconds):
    return value >= 0.0 and value <= max_seconds  # False for NaN too


def _checks(pitch, velocity, start, end, ts, tempo, other, total_time, max_seconds):
    """limits.check_sequence's per-value checks (the counts and quarters are the caller's)."""
    for i in range(pitch.size):
        if pitch[i] < 0 or pitch[i] > 127 or velocity[i] < 0 or velocity[i] > 127:
            return False
        if not (_time_ok(start[i], max_seconds) and _time_ok(end[i], max_seconds)):
            return False
        if end[i] < start[i]:
            return False
    for i in range(ts.shape[0]):
        if not _time_ok(ts[i, 0], max_seconds) or ts[i, 1] < 0 or ts[i, 2] < 1:
            return False
    for i in range(tempo.shape[0]):
        qpm = tempo[i, 1]
        if not _time_ok(tempo[i, 0], max_seconds) or not (qpm > 0.0 and qpm < np.inf):
            return False
    for i in range(other.size):
        if not _time_ok(other[i], max_seconds):
            return False
    return _time_ok(total_time, max_seconds)


if numba is not None and _layout_matches():
    _jit = numba.njit(cache=True, nogil=True)
    _varint = _jit(_varint)
    _int32 = _jit(_int32)
    _double = _jit(_double)
    _skip = _jit(_skip)
    _time_ok = _jit(_time_ok)
    _checks = _jit(_checks)
    _compiled = _jit(_parse)
else:
    _compiled = None


def available():
    return _compiled is not None


class _Tempo:
    __slots__ = ("time", "qpm")

    def __init__(self, time, qpm):
        self.time, self.qpm = time, qpm


def decode(data):
    """NoteSequence bytes -> NoteArrays, or None when the reference path must decide."""
    if _compiled is None:
        return None
    (ok, pitch, velocity, instrument, program, drum, start, end, ts, tempo, other, scalars,
     spans) = _compiled(np.frombuffer(data, np.uint8), limits.MAX_SECONDS)
    if not ok:
        return None
    # The rest of limits.check_sequence; anything it would refuse goes the reference way.
    notes = len(pitch)
    if notes > limits.MAX_NOTES or notes + len(ts) + len(tempo) + len(other) > \
            limits.MAX_EVENTS or \
            max(len(tempo) - 1, 0) + max(len(ts) - 1, 0) > limits.MAX_TIME_CHANGES:
        return None
    total_time = float(scalars[0])
    tempo_list = [(t, q) for t, q in tempo.tolist()]
    last = max(total_time, float(end.max()) if notes else 0.0)
    quarters = limits._quarters([_Tempo(t, q) for t, q in tempo_list], last)
    if quarters > limits.MAX_QUARTERS:
        return None
    try:
        sequence_id = bytes(data[spans[0]:spans[1]]).decode("utf-8")
        filename = bytes(data[spans[2]:spans[3]]).decode("utf-8")
    except UnicodeDecodeError:
        return None
    return notearrays.NoteArrays(
        id=sequence_id, filename=filename,
        pitch=pitch.astype(np.int32), velocity=velocity.astype(np.int32),
        instrument=instrument.astype(np.int32), program=program.astype(np.int32),
        is_drum=drum.astype(bool), start_time=start, end_time=end, total_time=total_time,
        time_signatures=[(t, int(a), int(b)) for t, a, b in ts.tolist()],
        tempos=tempo_list, start_time_offset=float(scalars[1]) if scalars[2] else 0.0)


def warm_up():
    if _compiled is not None:
        decode(b"\x0a\x01a\x42\x0d\x08\x3c\x10\x40\x21" + bytes(8))
