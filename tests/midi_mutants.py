"""Seeded mutants of real MIDI files, the kinds the hardening fuzzing found trouble with.

`make_mutants(sources, count, seed)` returns [(name, bytes)]: byte flips, truncation,
chunk duplication and removal, header field changes, huge delta-times and running-status
abuse (one or two of them per mutant). Shared by tests/test_input_limits.py and
benchmarks/fuzz_bench.py, so the test is the benchmark shrunk.
"""
import io
import pathlib
import random
import struct

import mido

KINDS = ("byte_flips", "truncation", "chunk_duplicated", "chunk_removed", "header_field",
         "huge_delta", "running_status")
HUGE_DELTA = 0x0FFFFFFF  # the largest a 4-byte variable-length quantity holds


def music21_midi_files():
    """The real MIDI files that come with music21 (test files, a Mozart movement)."""
    import music21

    return sorted(pathlib.Path(music21.__file__).parent.glob("**/*.mid"))


def vlq(value):
    """A MIDI variable-length quantity."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def chord_midi(notes):
    """A big, well-formed MIDI file: `notes` notes (a multiple of 8) as 8-note chords every
    eighth note at 120 qpm, 480 ticks per quarter, running status (1,000,000 notes: 6.25 MB,
    2.2 hours)."""
    chord = [b"\x00" + bytes([36 + 7 * k, 80]) for k in range(8)]
    release = [(b"\x3c" if k == 0 else b"\x00") + bytes([36 + 7 * k, 0]) for k in range(8)]
    bar = b"".join(chord + release)
    body = (b"\x00\xff\x51\x03\x07\xa1\x20\x00\x90" + bar[1:] + bar * (notes // 8 - 1)
            + b"\x00\xff\x2f\x00")
    return (b"MThd" + struct.pack(">IHHH", 6, 1, 1, 480)
            + b"MTrk" + struct.pack(">I", len(body)) + body)


def _chunks(data):
    """[(name, chunk bytes with its 8-byte header)] of a well-formed file."""
    chunks, pos = [], 0
    while pos + 8 <= len(data):
        size = struct.unpack(">I", data[pos + 4:pos + 8])[0]
        chunks.append(data[pos:pos + 8 + size])
        pos += 8 + size
    return chunks


def _set_tracks(header, count):
    return header[:10] + struct.pack(">H", count & 0xFFFF) + header[12:]


def byte_flips(data, rng):
    data = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        data[rng.randrange(len(data))] ^= rng.randint(1, 255)
    return bytes(data)


def truncation(data, rng):
    return data[:rng.randrange(1, len(data))]


def chunk_duplicated(data, rng):
    header, *tracks = _chunks(data)
    if not tracks:
        return data + data[14:]
    k = rng.randrange(len(tracks))
    tracks.insert(k, tracks[k])
    if rng.random() < 0.5:  # with or without telling the header
        header = _set_tracks(header, len(tracks))
    return header + b"".join(tracks)


def chunk_removed(data, rng):
    header, *tracks = _chunks(data)
    if tracks:
        del tracks[rng.randrange(len(tracks))]
    if rng.random() < 0.5:
        header = _set_tracks(header, len(tracks))
    return header + b"".join(tracks)


def header_field(data, rng):
    field = rng.choice(("length", "format", "tracks", "division"))
    if field == "length":
        value = rng.choice((0, 5, 7, 0xFFFF, 0xFFFFFFFF))
        return data[:4] + struct.pack(">I", value) + data[8:]
    value = rng.choice((0, 1, 2, 3, 0x7FFF, 0x8000, 0xFFFF, 0xE728, 0xE250, 0x0001,
                        rng.randrange(0x10000)))
    offset = {"format": 8, "tracks": 10, "division": 12}[field]
    return data[:offset] + struct.pack(">H", value) + data[offset + 2:]


def _parse(data):
    return mido.MidiFile(file=io.BytesIO(data))


def _encode(midi, drop_status=()):
    """Writes a MidiFile's tracks by hand; messages in `drop_status` lose their status
    byte (running status where none, or the wrong one, applies)."""
    out = [b"MThd", struct.pack(">IHHH", 6, midi.type, len(midi.tracks), midi.ticks_per_beat)]
    for track in midi.tracks:
        body = bytearray()
        for message in track:
            body += vlq(message.time)
            if message.is_meta:
                body += message.bin()
            elif message.type == "sysex":
                payload = bytes(message.data) + b"\xf7"
                body += b"\xf0" + vlq(len(payload)) + payload
            else:
                raw = message.bin()
                body += raw[1:] if id(message) in drop_status else raw
        out += [b"MTrk", struct.pack(">I", len(body)), bytes(body)]
    return b"".join(out)


def huge_delta(data, rng):
    midi = _parse(data)
    messages = [m for track in midi.tracks for m in track]
    for message in rng.sample(messages, min(len(messages), rng.choice((1, 1, 2, 4)))):
        message.time = rng.choice((HUGE_DELTA, rng.randrange(2 ** 20, 2 ** 28),
                                   rng.randrange(2 ** 14, 2 ** 21), 2 ** 35))
    return _encode(midi)


def running_status(data, rng):
    midi = _parse(data)
    channel = [m for track in midi.tracks for m in track if not m.is_meta and m.type != "sysex"]
    dropped = rng.sample(channel, min(len(channel), rng.randint(1, 6)))
    if rng.random() < 0.3:  # a track that opens with running status
        track = rng.choice(midi.tracks)
        track.insert(0, mido.Message("note_on", note=60, velocity=64, time=0))
        dropped.append(track[0])
    return _encode(midi, {id(m) for m in dropped})


MUTATIONS = {name: globals()[name] for name in KINDS}


def make_mutants(sources, count, seed=0):
    """`count` mutants of the files in `sources`: [(file name, bytes)], the same every
    time for the same seed."""
    rng = random.Random(seed)
    originals = [(pathlib.Path(p).stem, pathlib.Path(p).read_bytes()) for p in sources]
    mutants = []
    for index in range(count):
        stem, data = originals[index % len(originals)]
        kinds = [rng.choice(KINDS) for _ in range(rng.choice((1, 1, 1, 2)))]
        for kind in kinds:
            try:
                data = MUTATIONS[kind](data, rng)
            except Exception:  # noqa: BLE001 - mido cannot parse an earlier mutant: flip bytes
                data = byte_flips(data, rng)
        mutants.append((f"{index:04d}_{'+'.join(kinds)}_{stem}.mid", data))
    return mutants
