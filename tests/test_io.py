"""Reading and writing music files and NoteSequence TFRecords (musiczoo.pipelines.readers:
files, records; musiczoo.pipelines.writers)."""
import hashlib
import logging
import os
import pathlib
import re
import shutil
import subprocess
import sys

import mido
import pytest

from musiczoo.outputs import OutputError
from musiczoo.pipelines.readers.cache import music21_corpus_dir
from musiczoo.pipelines.readers.errors import ReadError
from musiczoo.pipelines.readers.files import convert_directory, iter_music_files, read_file
from musiczoo.pipelines.readers.records import read_note_sequences, write_note_sequences
from musiczoo.pipelines.stats import Stats
from musiczoo.pipelines.writers import write_midi

REPO = pathlib.Path(__file__).resolve().parent.parent

# Two tunes note_seq reads, one it cannot (a rest), one with a tuplet, and a repeated X.
FOLK_ABC = """\
X:1
T:Plain tune
M:4/4
L:1/8
K:G
GABc d2 B2|c2 A2 G4|]

X:2
T:Tune with a rest
M:3/4
L:1/4
K:D
D F A|z d2|]

X:3
T:Tune with a triplet
M:2/4
L:1/8
K:C
(3cde f2|g4|]

X:4
T:Second plain tune
M:6/8
L:1/8
K:Em
EFG B2A|GFE E3|]

X:4
T:Repeated reference number
M:4/4
L:1/4
K:C
C D E F|]
"""


def changes_midi(path):
    """A MIDI file with tempo and time-signature changes and two zero-length notes."""
    mid = mido.MidiFile(ticks_per_beat=480)
    conductor = mido.MidiTrack([
        mido.MetaMessage("set_tempo", tempo=500000, time=0),            # 120 qpm
        mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0),
        mido.MetaMessage("set_tempo", tempo=750000, time=1920),         # 80 qpm at bar 2
        mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0)])
    notes = [(60, 0, 480), (62, 480, 0), (64, 960, 480), (65, 1920, 480), (67, 2400, 0),
             (69, 2880, 960)]
    events = []
    for pitch, start, length in notes:
        # Sort key: at equal ticks, offs of earlier notes first, then ons, then zero-length offs.
        events.append((start, 1, "note_on", pitch, 80))
        events.append((start + length, 2 if length == 0 else 0, "note_off", pitch, 0))
    track = mido.MidiTrack([mido.Message("program_change", program=40, time=0)])
    now = 0
    for tick, _, kind, pitch, velocity in sorted(events):
        track.append(mido.Message(kind, note=pitch, velocity=velocity, time=tick - now))
        now = tick
    mid.tracks += [conductor, track]
    mid.save(path)
    return path


def note_tuples(sequence, digits=3):
    return sorted((n.pitch, round(n.start_time, digits), round(n.end_time, digits))
                  for n in sequence.notes)


def test_midi_with_tempo_and_time_signature_changes(tmp_path):
    sequence, = read_file(changes_midi(tmp_path / "changes.mid"))
    assert [(round(t.time, 3), t.qpm) for t in sequence.tempos] == [(0, 120), (2, 80)]
    assert [(t.time, t.numerator) for t in sequence.time_signatures] == [(0, 4), (2, 3)]
    # pretty_midi drops the zero-length notes (62, 67); the others keep tempo-mapped times.
    assert note_tuples(sequence) == [(60, 0, 0.5), (64, 1, 1.5), (65, 2, 2.75), (69, 3.5, 5)]
    assert all(n.program == 40 for n in sequence.notes)


def test_magenta_provenance(tmp_path, chorale_paths):
    folder = tmp_path / "my_collection" / "sub"
    folder.mkdir(parents=True)
    shutil.copy(chorale_paths[0], folder / "a.mxl")
    sequence, = read_file(folder / "a.mxl", root_dir=tmp_path / "my_collection")
    assert sequence.collection_name == "my_collection"
    assert sequence.filename == os.path.join("sub", "a.mxl")
    digest = hashlib.sha1(os.path.join("sub", "a.mxl").encode()).hexdigest()
    assert sequence.id == f"/id/musicxml/my_collection/{digest}"
    alone, = read_file(folder / "a.mxl")  # default root: the file's own folder
    assert (alone.collection_name, alone.filename) == ("sub", "a.mxl")


def test_abc_tunebook_keeps_good_tunes_and_counts_the_rest(tmp_path):
    path = tmp_path / "folk" / "tunes.abc"
    path.parent.mkdir()
    path.write_text(FOLK_ABC)
    stats = Stats()
    sequences = read_file(path, stats=stats)
    assert [s.reference_number for s in sequences] == [1, 4]
    assert [s.sequence_metadata.title for s in sequences] == ["Plain tune", "Second plain tune"]
    assert stats["abc_tunes_read"] == 2
    assert stats["abc_tunes_failed_rest"] == 1
    assert stats["abc_tunes_failed_tuplet"] == 1
    assert stats["abc_tunes_failed_duplicate_reference_number"] == 1
    digest = hashlib.sha1(b"tunes.abc_4").hexdigest()
    assert sequences[1].id == f"/id/abc/folk/{digest}"
    assert [n.pitch for n in sequences[0].notes][:4] == [67, 69, 71, 72]


def test_real_folk_tunebook():
    stats = Stats()
    sequences = read_file(music21_corpus_dir() / "essenFolksong" / "test0.abc", stats=stats)
    assert len(sequences) == stats["abc_tunes_read"] >= 1
    assert stats["abc_tunes_read"] + sum(
        v for k, v in stats.counts.items() if k.startswith("abc_tunes_failed_")) == 16
    assert all(s.notes for s in sequences)


def write_bad_files(folder, good_midi):
    """Every kind of bad input, each under its expected reason."""
    data = pathlib.Path(good_midi).read_bytes()
    bad = {
        "empty.mid": (b"", "empty_file"),
        "text.mid": (b"this is a shopping list, not music\n", "not_midi"),
        "garbage.mid": (b"MThd" + bytes(range(7, 250)), "corrupt_midi"),
        "truncated.mid": (data[:len(data) // 2], "corrupt_midi"),
        "broken.xml": (b"<score-partwise><part id='P1'><measure", "unparseable_musicxml"),
        "fake.mxl": (b"PK not really a zip", "unparseable_musicxml"),
        "no_tunes.abc": (b"X:1\nT:only rests\nL:1/4\nK:C\nz z z z|]\n", "no_abc_tunes"),
        "empty.abc": (b"", "empty_file"),
    }
    for name, (content, _) in bad.items():
        (folder / name).write_bytes(content)
    return {name: reason for name, (_, reason) in bad.items()}


def test_each_bad_file_raises_its_reason_naming_the_file(tmp_path):
    good = changes_midi(tmp_path / "good.mid")
    for name, reason in write_bad_files(tmp_path, good).items():
        with pytest.raises(ReadError) as error:
            read_file(tmp_path / name)
        assert error.value.reason == reason, name
        assert str(tmp_path / name) in str(error.value)
    for name, reason in [("notes.txt", "unsupported_extension"), ("gone.mid", "missing_file")]:
        if name == "notes.txt":
            (tmp_path / name).write_text("hello")
        with pytest.raises(ReadError, match=name) as error:
            read_file(tmp_path / name)
        assert error.value.reason == reason
        assert isinstance(error.value, ValueError)


def test_convert_directory_keeps_good_files_and_counts_bad_ones(tmp_path, chorale_paths, caplog):
    folder = tmp_path / "input"
    (folder / "nested").mkdir(parents=True)
    for path in chorale_paths[:2]:
        shutil.copy(path, folder / "nested" / path.name)
    changes_midi(folder / "changes.MID")
    (folder / "folk.abc").write_text(FOLK_ABC)
    (folder / "README.txt").write_text("not music")
    reasons = write_bad_files(folder, folder / "changes.MID")
    output = tmp_path / "out" / "notesequences.tfrecord"

    with caplog.at_level(logging.WARNING, logger="musiczoo"):
        stats = convert_directory(folder, output, progress=False)

    assert stats["files_read"] == 4
    assert stats["sequences_read"] == stats["sequences_written"] == 2 + 1 + 2
    assert stats["files_ignored_unsupported_extension"] == 1
    for reason in set(reasons.values()):
        assert stats[f"files_failed_{reason}"] == list(reasons.values()).count(reason), reason
    for name in reasons:  # one clear line per skipped file, naming it
        assert sum(name in r.getMessage() for r in caplog.records) == 1, name

    back = {s.filename: s for s in read_note_sequences(output)}
    expected = {os.path.join("nested", p.name) for p in chorale_paths[:2]} | {
        "changes.MID", "folk.abc"}
    assert {name for name in back} == expected
    assert all(s.collection_name == "input" for s in back.values())
    alone, = read_file(chorale_paths[0])
    assert note_tuples(back[os.path.join("nested", chorale_paths[0].name)]) == note_tuples(alone)

    flat = convert_directory(folder, tmp_path / "flat.tfrecord", recursive=False,
                             progress=False)
    assert flat["files_read"] == 2 and flat["sequences_written"] == 3


def test_iter_music_files(tmp_path):
    for name in ["b.mid", "a.ABC", "sub/c.musicxml", "sub/d.kar", "e.wav", "sub/deeper/f.mxl"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    names = [os.path.relpath(p, tmp_path) for p in iter_music_files(tmp_path)]
    assert names == ["a.ABC", "b.mid", "sub/c.musicxml", "sub/d.kar", "sub/deeper/f.mxl"]
    assert len(iter_music_files(tmp_path, recursive=False)) == 2
    with pytest.raises(FileNotFoundError, match="no such folder"):
        iter_music_files(tmp_path / "missing")


def test_tfrecord_round_trip(tmp_path, chorales):
    path = tmp_path / "deep" / "notesequences.tfrecord"
    assert write_note_sequences(path, iter(chorales[:5])) == 5
    assert list(read_note_sequences(path)) == chorales[:5]
    assert not os.path.exists(str(path) + ".partial")
    assert write_note_sequences(tmp_path / "empty.tfrecord", []) == 0
    assert list(read_note_sequences(tmp_path / "empty.tfrecord")) == []

    import tensorflow as tf  # a gzipped file (Magenta could write those too) is recognised
    gzipped = tmp_path / "gzipped.tfrecord"
    with tf.io.TFRecordWriter(str(gzipped), options="GZIP") as writer:
        writer.write(chorales[0].SerializeToString())
    assert list(read_note_sequences(gzipped)) == chorales[:1]


def test_tfrecord_damage_is_a_clear_error(tmp_path, chorales):
    path = tmp_path / "notesequences.tfrecord"
    write_note_sequences(path, chorales[:3])
    data = bytearray(path.read_bytes())
    first_length = int.from_bytes(data[:8], "little")
    flipped = bytearray(data)
    flipped[16 + first_length + 4 + 40] ^= 0xFF  # inside record 1's payload
    damaged = tmp_path / "flipped.tfrecord"
    damaged.write_bytes(bytes(flipped))
    with pytest.raises(ReadError, match="flipped.tfrecord.*record 1") as error:
        list(read_note_sequences(damaged))
    assert error.value.reason == "corrupt_tfrecord"

    truncated = tmp_path / "truncated.tfrecord"
    truncated.write_bytes(bytes(data[:len(data) - 50]))
    with pytest.raises(ReadError, match="truncated.tfrecord"):
        list(read_note_sequences(truncated))
    with pytest.raises(ReadError, match="missing.tfrecord.*no such file"):
        list(read_note_sequences(tmp_path / "missing.tfrecord"))


def test_tfrecord_of_something_else(tmp_path):
    import tensorflow as tf
    path = tmp_path / "strings.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(b"\xff\xff\xff not a proto")
    with pytest.raises(ReadError, match="not a serialized NoteSequence"):
        list(read_note_sequences(path))


def test_midi_round_trip_keeps_pitches_and_times(tmp_path, chorales):
    from musiczoo.pipelines.readers.corpora import chorale_voices
    # The four voices only: MIDI cannot hold two overlapping notes of one pitch on one
    # track, which the full scores have (an oboe doubling the soprano in the same part).
    for index, original in enumerate(filter(None, map(chorale_voices, chorales[:4]))):
        path = tmp_path / "round" / f"{index}.mid"
        write_midi(original, path)
        back, = read_file(path)
        assert note_tuples(back, 2) == note_tuples(original, 2)
        assert [round(t.qpm, 3) for t in back.tempos] == [round(t.qpm, 3) for t in original.tempos]


def test_convert_script_reports_bad_paths_in_one_line(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run(
        [sys.executable, "-m", "musiczoo.scripts.convert", f"--input_dir={tmp_path / 'nope'}",
         f"--output_file={tmp_path / 'out.tfrecord'}"],
        capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "nope: no such folder" in result.stderr
    missing_flag = subprocess.run([sys.executable, "-m", "musiczoo.scripts.convert"],
                                  capture_output=True, text=True, env=env, timeout=120)
    assert missing_flag.returncode == 1 and "input_dir" in missing_flag.stderr
    assert "Traceback" not in missing_flag.stderr


def test_convert_script_converts(tmp_path, chorale_paths):
    shutil.copy(chorale_paths[0], tmp_path / "a.mxl")
    (tmp_path / "bad.mid").write_bytes(b"nope")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run(
        [sys.executable, "-m", "musiczoo.scripts.convert", f"--input_dir={tmp_path}",
         f"--output_file={tmp_path / 'out.tfrecord'}"],
        capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert re.search(r"files_failed_not_midi +1", result.stdout)
    assert "1 NoteSequences ->" in result.stdout
    assert len(list(read_note_sequences(tmp_path / "out.tfrecord"))) == 1


def test_convert_from_python_is_the_script_verb(tmp_path, chorale_paths):
    import musiczoo
    (tmp_path / "in").mkdir()
    shutil.copy(chorale_paths[0], tmp_path / "in" / "a.mxl")
    (tmp_path / "in" / "bad.mid").write_bytes(b"nope")
    output = tmp_path / "out.tfrecord"
    stats = musiczoo.convert(tmp_path / "in", output, progress=False)
    assert stats["sequences_written"] == 1 and stats["files_failed_not_midi"] == 1
    (back,) = read_note_sequences(output)
    assert back.filename == "a.mxl" and back.collection_name == "in" and back.notes
    with pytest.raises(OutputError, match="already exists"):   # kept unless overwrite
        musiczoo.convert(tmp_path / "in", output, progress=False)
    assert musiczoo.convert(tmp_path / "in", output, progress=False,
                            overwrite=True)["sequences_written"] == 1
