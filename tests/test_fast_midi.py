"""The compiled MIDI reader (fast_midi) reads exactly what note_seq reads.

note_seq (pretty_midi, mido) is the reference. On real files (music21's test MIDI, the MMA
examples and library, Planet Blupi's game music where installed, MIDI written by our own
generators) and on fuzz mutants, every file the fast pass accepts has note_seq's notes
(pitch, velocity, times, program, is_drum, instrument, and their order), tempos, time
signatures, key signatures and control changes (sustain pedals included), to the last bit;
every file note_seq refuses, the fast pass leaves to note_seq. Datasets built through it
are the same files with the same statistics, whatever the number of worker processes.
"""
import io
import os
import pathlib
import shutil

import mido
import numpy as np
import pytest

from musiczoo import commands
from musiczoo.pipelines.extract import notearrays
from musiczoo.pipelines.readers import fast_midi, files, inputs, midi
from musiczoo.pipelines.readers.errors import ReadError
from tests import midi_mutants

pytestmark = pytest.mark.skipif(not fast_midi.available(), reason="numba is not installed")

MMA_DOCS = pathlib.Path("/usr/share/doc/mma")
MMA_LIB = pathlib.Path("/usr/share/mma/lib")
BLUPI = pathlib.Path("/usr/share/planetblupi/music")


def real_midi_files():
    found = list(midi_mutants.music21_midi_files())
    for folder in (MMA_DOCS, MMA_LIB, BLUPI):
        found += sorted(folder.glob("**/*.mid"))
    return found


def reference(data):
    """The reference reading: the input limits' scan, then note_seq (None when refused)."""
    try:
        return midi.midi_bytes_to_sequence(data)
    except ReadError:
        return None


def assert_same(fast, sequence, name):
    expected = notearrays.from_note_sequence(sequence)
    got = fast.arrays
    for field in notearrays.NOTE_FIELDS:
        assert np.array_equal(getattr(got, field), getattr(expected, field)), (name, field)
        assert getattr(got, field).dtype == getattr(expected, field).dtype, (name, field)
    assert got.total_time == expected.total_time, name
    assert got.tempos == expected.tempos, name
    assert got.time_signatures == expected.time_signatures, name
    assert fast.key_signatures == [(k.time, k.key, k.mode) for k in sequence.key_signatures], name
    assert fast.ticks_per_quarter == sequence.ticks_per_quarter, name
    expected_cc = [(c.time, c.control_number, c.control_value, c.instrument, c.program,
                    c.is_drum) for c in sequence.control_changes]
    got_cc = [(float(c["time"]), int(c["control_number"]), int(c["control_value"]),
               int(c["instrument"]), int(c["program"]), bool(c["is_drum"]))
              for c in fast.control_changes]
    assert got_cc == expected_cc, name


def test_real_files_read_exactly_as_note_seq():
    paths = real_midi_files()
    if os.environ.get("MUSICZOO_REQUIRE_MMA") == "1":
        assert list(MMA_DOCS.glob("**/*.mid")), "Debian's mma examples are missing"
    assert len(paths) >= 20
    compared = 0
    pedals = 0
    for path in paths:
        data = path.read_bytes()
        sequence = reference(data)
        fast = fast_midi.decode(data, str(path))
        if sequence is None:
            assert fast is None, f"{path}: note_seq refuses it, the fast pass must too"
            continue
        # Real files are the common case: none may need the slow path.
        assert fast is not None, f"{path}: left to note_seq"
        assert_same(fast, sequence, path)
        compared += 1
        pedals += sum(c.control_number == 64 for c in sequence.control_changes)
    assert compared >= 20
    assert pedals > 0  # sustain pedals were among what was compared


def test_generated_midi_reads_exactly(tmp_path):
    """MIDI written by our own writer (as generate writes it) from real chorales."""
    import note_seq

    from tests.conftest import music21_corpus
    for path in sorted((music21_corpus() / "bach").glob("bwv*.mxl"))[:6]:
        sequence = note_seq.musicxml_file_to_sequence_proto(str(path))
        out = tmp_path / (path.stem + ".mid")
        note_seq.sequence_proto_to_midi_file(sequence, str(out))
        data = out.read_bytes()
        assert_same(fast_midi.decode(data), reference(data), out)


def test_fuzz_mutants_read_exactly_or_go_to_note_seq():
    sources = [p for p in real_midi_files() if p.stat().st_size < 200_000][:40]
    mutants = midi_mutants.make_mutants(sources, 300, seed=3)
    accepted = refused = 0
    for name, data in mutants:
        sequence = reference(data)
        fast = fast_midi.decode(data, name)
        if sequence is None:
            assert fast is None, f"{name}: note_seq refuses it, the fast pass accepted it"
            refused += 1
        elif fast is not None:
            assert_same(fast, sequence, name)
            accepted += 1
    assert accepted > 50 and refused > 50, (accepted, refused)


def _midi(*tracks, ticks_per_beat=480):
    midi = mido.MidiFile(ticks_per_beat=ticks_per_beat)
    for messages in tracks:
        track = mido.MidiTrack()
        track.extend(messages)
        midi.tracks.append(track)
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def on(note, time=0, velocity=80, channel=0):
    return mido.Message("note_on", note=note, velocity=velocity, time=time, channel=channel)


def off(note, time=0, channel=0, as_note_on=False):
    if as_note_on:
        return mido.Message("note_on", note=note, velocity=0, time=time, channel=channel)
    return mido.Message("note_off", note=note, time=time, channel=channel)


def tempo(bpm, time=0):
    return mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=time)


# Where note_seq's own reading is odd, we match it; each case says what it does.
ODD_FILES = {
    # Two note-ons of one pitch, one note-off: both notes end at that note-off.
    "overlapping_same_pitch": _midi([on(60), on(60, 100), off(60, 100), off(60, 100)]),
    # A note-off on the tick of its note-on: the note is dropped (no zero-length notes).
    "zero_length": _midi([on(60), off(60, 0), on(62, 10), off(62, 100)]),
    # Note-off then note-on of the same pitch on one tick: the first ends, the second plays.
    "retrigger_same_tick": _midi([on(60), on(60, 200), off(60, 0), off(60, 200)]),
    # A program change while a note sounds: the note takes the program at its note-off.
    "program_change_mid_note": _midi([
        mido.Message("program_change", program=5, time=0), on(60),
        mido.Message("program_change", program=40, time=100), off(60, 100), on(62),
        off(62, 100)]),
    # Tempos and meters outside track 0 are ignored; a repeated tempo is no change.
    "tempo_in_track_1": _midi([tempo(90), tempo(90, 480), tempo(150, 480), on(60), off(60, 480)],
                              [tempo(60, 100), mido.MetaMessage("time_signature", numerator=3,
                                                                denominator=4, time=0),
                               on(64, 0), off(64, 960)]),
    # Control changes before any note go to a list that later instruments of the channel
    # share; a sustain pedal under two programs appears under both.
    "shared_control_lists": _midi([
        mido.Message("control_change", control=64, value=127, time=0), on(60), off(60, 100),
        mido.Message("program_change", program=3, time=0),
        mido.Message("control_change", control=64, value=0, time=50), on(62), off(62, 100)]),
    # Drums (channel 10), velocity-0 note-offs, running status, a note never closed.
    "drums_running_status_unclosed": _midi([
        on(36, channel=9), off(36, 120, channel=9, as_note_on=True), on(38, 0, channel=9),
        off(38, 120, channel=9, as_note_on=True), on(70, 0)]),
    "key_signatures": _midi([mido.MetaMessage("key_signature", key="Eb", time=0), on(60),
                             off(60, 480), mido.MetaMessage("key_signature", key="F#m", time=0),
                             on(61), off(61, 480)]),
}


@pytest.mark.parametrize("name", sorted(ODD_FILES))
def test_odd_cases_match_note_seq(name):
    data = ODD_FILES[name]
    sequence = reference(data)
    assert sequence is not None
    fast = fast_midi.decode(data, name)
    assert fast is not None, f"{name}: left to note_seq"
    assert_same(fast, sequence, name)


def test_odd_cases_do_what_note_seq_does():
    """The behaviour matched, spelled out (so a change in note_seq would show here)."""
    overlap = fast_midi.decode(ODD_FILES["overlapping_same_pitch"]).arrays
    assert overlap.end_time.tolist() == [overlap.end_time[0]] * 2  # both end together
    assert len(fast_midi.decode(ODD_FILES["zero_length"]).arrays) == 1  # 60 dropped
    program = fast_midi.decode(ODD_FILES["program_change_mid_note"]).arrays
    assert program.program.tolist() == [40, 40]  # the program at the note-off
    tempos = fast_midi.decode(ODD_FILES["tempo_in_track_1"]).arrays
    assert [round(qpm, 3) for _, qpm in tempos.tempos] == [90.0, 150.0]
    assert tempos.time_signatures == []
    shared = fast_midi.decode(ODD_FILES["shared_control_lists"])
    assert sorted(set(shared.control_changes["instrument"].tolist())) == [0, 1]
    drums = fast_midi.decode(ODD_FILES["drums_running_status_unclosed"]).arrays
    assert drums.pitch.tolist() == [36, 38] and drums.is_drum.all()  # 70 never closed


def test_unusual_files_go_to_note_seq():
    """What the pass does not model is left to note_seq (which reads it or says why not),
    never guessed; ordinary sysex (a GM reset) is modelled."""
    plain = _midi([on(60), off(60, 10)])
    assert fast_midi.decode(plain) is not None
    assert fast_midi.decode(_midi([mido.Message("sysex", data=[0x7E, 0x7F, 0x09, 0x01]),
                                   on(60), off(60, 10)])) is not None
    song_position = _midi([mido.Message("songpos", pos=3), on(60), off(60, 10)])
    smpte = bytearray(plain)
    smpte[12:14] = b"\xe7\x28"  # 25 frames per second, 40 ticks per frame
    bad_key = bytearray(ODD_FILES["key_signatures"])
    bad_key[bad_key.index(b"\xff\x59\x02") + 3] = 9  # nine sharps
    for data in (b"", b"MThd", b"RIFF" + bytes(40), plain[:-3], song_position, bytes(smpte),
                 bytes(bad_key)):
        assert fast_midi.decode(data) is None, data[:20]
    assert reference(bytes(bad_key)) is None  # note_seq refuses it too, naming it


def _dataset_files(folder):
    out = {}
    for path in sorted(pathlib.Path(folder).glob("*.tfrecord")):
        out[path.name] = path.read_bytes()
    return out


@pytest.fixture(scope="module")
def midi_folder(tmp_path_factory):
    """Real MIDI (music21's, and MMA's examples where installed), one corrupt file, one
    MusicXML chorale (read the usual way beside the MIDI)."""
    from tests.conftest import music21_corpus

    folder = tmp_path_factory.mktemp("midi_in")
    for path in midi_mutants.music21_midi_files() + sorted(MMA_DOCS.glob("**/*.mid"))[:40]:
        shutil.copy(path, folder / f"{path.parent.name}_{path.name}")
    (folder / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk")
    shutil.copy(sorted((music21_corpus() / "bach").glob("bwv*.mxl"))[0], folder)
    return folder


@pytest.fixture(scope="module")
def midi_records(midi_folder, tmp_path_factory):
    """The same folder converted to a NoteSequence TFRecord (musiczoo_convert)."""
    path = tmp_path_factory.mktemp("records") / "notesequences.tfrecord"
    files.convert_directory(midi_folder, path, progress=False)
    return path


@pytest.mark.parametrize("config,kind", [("basic_rnn", "folder"), ("drum_kit", "folder"),
                                         ("basic_rnn", "tfrecord")])
def test_datasets_equal_through_either_reader(config, kind, midi_folder, midi_records,
                                              tmp_path, monkeypatch):
    """Fast readers (1 and 2 workers) and note_seq's reader build the same dataset files,
    with the same statistics, from a folder of MIDI or a TFRecord of NoteSequences."""
    monkeypatch.setattr(files, "MIN_FILES_PER_WORKER", 4)  # use both workers on this folder
    source = str(midi_folder if kind == "folder" else midi_records)
    results = {}
    for name, fast, workers in (("note_seq", False, 1), ("fast_1", True, 1),
                                ("fast_2", True, 2)):
        out = tmp_path / name
        sequences, total, description = inputs.resolve_inputs(source, fast=fast,
                                                               num_workers=workers)
        from musiczoo.pipelines.datasets import build
        _, cfg = commands.resolve_config(config)
        result = build.create_dataset(cfg.data_spec(), sequences, out, total=total,
                                      progress=False, stats=sequences.stats)
        results[name] = (_dataset_files(out), result.stats.as_dict())
    reference_files, reference_stats = results["note_seq"]
    if kind == "folder":
        assert reference_stats["counts"]["files_failed_corrupt_midi"] == 1
    assert sum(len(b) for b in reference_files.values()) > 1000
    for name in ("fast_1", "fast_2"):
        assert results[name][0] == reference_files, name
        assert results[name][1] == reference_stats, name


def test_cli_num_workers_and_glob(midi_folder, tmp_path):
    """--num_workers and a glob input through the script; the same files as a folder."""
    from musiczoo.scripts import create_dataset  # noqa: F401  (its flags)
    first = commands.create_dataset("basic_rnn", str(midi_folder), tmp_path / "a",
                                    progress=False, num_workers=2)
    second = commands.create_dataset("basic_rnn", f"{midi_folder}/*.mid", tmp_path / "b",
                                     progress=False, num_workers=1)
    assert first.counts["training"] > 0
    # The glob leaves out the MusicXML file; the MIDI examples are the same.
    assert second.stats["files_read"] == first.stats["files_read"] - 1
    with pytest.raises(ValueError, match="matches no MIDI"):
        commands.create_dataset("basic_rnn", f"{midi_folder}/*.nothing", tmp_path / "c")


def test_read_file_arrays_names_bad_files(tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\x00\x10\x00\x90")
    with pytest.raises(ReadError, match="bad.mid: corrupt or truncated MIDI"):
        files.read_file_arrays(bad)
    good = tmp_path / "good.mid"
    good.write_bytes(ODD_FILES["key_signatures"])
    (arrays,) = files.read_file_arrays(good)
    (sequence,) = files.read_file(good)
    assert isinstance(arrays, notearrays.NoteArrays)
    assert (arrays.id, arrays.filename) == (sequence.id, sequence.filename)


# ---------------------------------------------------------------- TFRecords of NoteSequences

def _reference_record(record):
    """What read_note_sequences + from_note_sequence make of one record: NoteArrays,
    None (refused by check_sequence) or the ReadError's reason."""
    from musiczoo.pipelines.readers import records
    try:
        sequence = records._parsed("<r>", 0, record)
    except ReadError as error:
        return error.reason
    if records._checked("<r>", 0, sequence, None) is None:
        return None
    return notearrays.from_note_sequence(sequence)


def _fast_record(record):
    from musiczoo.pipelines.readers import records
    try:
        return records.record_arrays(record, "<r>", 0)
    except ReadError as error:
        return error.reason


def _assert_same_arrays(got, expected, name):
    if not isinstance(expected, notearrays.NoteArrays):
        assert got == expected, name
        return
    for field in notearrays.NOTE_FIELDS:
        assert np.array_equal(getattr(got, field), getattr(expected, field)), (name, field)
        assert getattr(got, field).dtype == getattr(expected, field).dtype, (name, field)
    for field in ("id", "filename", "total_time", "time_signatures", "tempos",
                  "start_time_offset"):
        assert getattr(got, field) == getattr(expected, field), (name, field)


def _record_corpus(chorales):
    """Chorales, MIDI-converted files (control changes, drums, many tempos) and split
    subsequences (with a start offset)."""
    from note_seq import sequences_lib
    sequences = list(chorales)
    for path in real_midi_files()[:30]:
        sequence = reference(path.read_bytes())
        if sequence is not None:
            sequences.append(sequence)
    sequences += sequences_lib.split_note_sequence(sequences[0], 5.0)[:3]
    return [s.SerializeToString() for s in sequences]


def test_records_read_exactly_as_protobuf(chorales):
    from musiczoo.pipelines.readers import fast_records
    raw = _record_corpus(chorales)
    assert fast_records.available()
    for index, record in enumerate(raw):
        got = fast_records.decode(record)
        assert got is not None, index  # real sequences take the compiled path
        _assert_same_arrays(got, _reference_record(record), index)


def test_damaged_records_as_protobuf_does(chorales):
    """Byte flips, truncations and impossible values: same result or same refusal."""
    from note_seq.protobuf import music_pb2
    rng = np.random.default_rng(5)
    raw = _record_corpus(chorales[:8])
    cases = []
    for record in raw:
        for _ in range(25):
            data = bytearray(record)
            for _ in range(int(rng.integers(1, 4))):
                data[int(rng.integers(len(data)))] = int(rng.integers(256))
            cases.append(bytes(data))
        cases.append(record[:int(rng.integers(1, len(record)))])
    bad = music_pb2.NoteSequence.FromString(raw[0])
    bad.notes[3].pitch = 300
    cases.append(bad.SerializeToString())
    bad.notes[3].pitch = 60
    bad.notes[3].end_time = float("nan")
    cases.append(bad.SerializeToString())
    outcomes = set()
    for index, data in enumerate(cases):
        expected = _reference_record(data)
        _assert_same_arrays(_fast_record(data), expected, index)
        outcomes.add(type(expected).__name__)
    assert outcomes == {"NoteArrays", "NoneType", "str"}  # all three kinds were seen


def test_tfrecord_reader_counts_like_the_proto_reader(chorales, tmp_path):
    from note_seq.protobuf import music_pb2

    from musiczoo.pipelines.readers import records
    from musiczoo.pipelines.stats import Stats
    sequences = [music_pb2.NoteSequence.FromString(r) for r in _record_corpus(chorales[:10])]
    sequences[4].notes[0].velocity = 999  # refused by check_sequence, counted
    path = tmp_path / "sequences.tfrecord"
    records.write_note_sequences(path, sequences)
    slow_stats, fast_stats = Stats(), Stats()
    slow = [notearrays.from_note_sequence(s) for s in records.read_note_sequences(path, slow_stats)]
    fast = list(records.read_note_arrays(path, fast_stats))
    assert len(fast) == len(slow) == len(sequences) - 1
    for index, (got, expected) in enumerate(zip(fast, slow)):
        _assert_same_arrays(got, expected, index)
    assert fast_stats.as_dict() == slow_stats.as_dict()
    assert fast_stats["records_failed_invalid_sequence"] == 1
    # A damaged file: the records before the damage, then the same one-line error.
    damaged = tmp_path / "damaged.tfrecord"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    errors = []
    for reader in (records.read_note_sequences, records.read_note_arrays):
        got = []
        with pytest.raises(ReadError, match="corrupt or truncated TFRecord") as error:
            for item in reader(damaged):
                got.append(item)
        errors.append((len(got), str(error.value)))
    assert errors[0] == errors[1] and errors[0][0] > 0
