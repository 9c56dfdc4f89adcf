"""Untrusted input has bounded cost: memory bombs refused up front, bad values counted (issue 10).

Reads that could eat the machine on a regression run in a subprocess under an
address-space limit, so a regression fails the test instead.
"""
import json
import math
import os
import pathlib
import struct
import subprocess
import sys
import zipfile

import pytest
from note_seq.protobuf import music_pb2

from musiczoo.pipelines.readers import limits
from musiczoo.pipelines.readers.errors import READ_ERROR_REASONS, ReadError, check_sequence
from musiczoo.pipelines.readers.files import read_file
from musiczoo.pipelines.readers.inputs import resolve_input
from musiczoo.pipelines.readers.midi import midi_bytes_to_sequence
from musiczoo.pipelines.readers.records import read_note_sequences, write_note_sequences
from musiczoo.pipelines.stats import Stats
from musiczoo.pipelines.writers import write_midi
from tests import midi_mutants
from tests.midi_mutants import vlq

REPO = pathlib.Path(__file__).resolve().parent.parent
ENV = dict(os.environ, PYTHONPATH=str(REPO))


def smf(*tracks, division=480):
    """A Standard MIDI File (format 1) from raw track bodies."""
    data = b"MThd" + struct.pack(">IHHH", 6, 1, len(tracks), division)
    return data + b"".join(b"MTrk" + struct.pack(">I", len(t)) + t for t in tracks)


def melody(pitches, gap=480):
    """Track events: a tempo, a time signature, then one quarter note per pitch."""
    body = b"\x00\xff\x51\x03\x07\xa1\x20" + b"\x00\xff\x58\x04\x04\x02\x18\x08"
    for pitch in pitches:
        body += b"\x00\x90" + bytes([pitch, 80]) + vlq(gap) + bytes([pitch, 0])
    return body


END = b"\x00\xff\x2f\x00"


def huge_delta_midi(deltas=1):
    """The issue's memory bomb: a short melody with `deltas` delta-times of 0x0FFFFFFF."""
    body = melody([60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62, 60])
    for _ in range(deltas):
        body += vlq(midi_mutants.HUGE_DELTA) + b"\x90\x3c\x50" + b"\x83\x60\x3c\x00"
    return smf(body + END)


# A child's peak RSS: /proc's VmHWM, as Linux carries ru_maxrss over from the forking
# parent (pytest, a GB after the TensorFlow tests) across exec.
PEAK_RSS = """
def peak_rss_mb():
    import resource
    try:
        with open("/proc/self/status") as status:
            return next(int(l.split()[1]) for l in status if l.startswith("VmHWM:")) // 1024
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
"""

READ_IN_A_BOX = PEAK_RSS + """
import json, resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from musiczoo.pipelines.readers.errors import ReadError
from musiczoo.pipelines.readers.files import read_file
result = []
for path in sys.argv[2:]:
    try:
        sequence, = read_file(path)
        outcome = f"read {len(sequence.notes)} notes"
    except ReadError as error:
        outcome = error.reason
    result.append([outcome, peak_rss_mb()])
print(json.dumps(result))
"""


def read_in_a_box(paths, limit_bytes=2560 * 2 ** 20):
    """[(outcome, peak RSS in MB so far)] of read_file on each path, in one subprocess
    whose address space is limited (today's reader needs 6.9 GB for one huge delta)."""
    done = subprocess.run([sys.executable, "-c", READ_IN_A_BOX, str(limit_bytes), *map(str, paths)],
                          capture_output=True, text=True, env=ENV, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_huge_delta_times_are_refused_in_bounded_memory(tmp_path):
    paths = []
    for deltas in (1, 2, 4):
        paths.append(tmp_path / f"bomb_{deltas}.mid")
        paths[-1].write_bytes(huge_delta_midi(deltas))
    assert len(paths[0].read_bytes()) < 200  # a small file, as in the issue (163 bytes)
    # Just inside the tick limit: a note ending on the last tick allowed, at 240 qpm (2.9
    # hours, under the 4-hour limit) still reads.
    inside = tmp_path / "inside.mid"
    inside.write_bytes(smf(b"\x00\xff\x51\x03\x03\xd0\x90\x00\x90\x3c\x50"
                           + vlq(limits.MAX_TICKS) + b"\x80\x3c\x00" + END))
    outcomes = read_in_a_box(paths + [inside])
    for (outcome, rss_mb), path in zip(outcomes[:3], paths):
        assert outcome == "midi_too_long", path.name
        assert rss_mb < 400, (path.name, rss_mb)
    assert outcomes[3][0] == "read 1 notes"
    with pytest.raises(ReadError, match=r"bomb_1.mid: MIDI file too long.*past tick 20,000,000"):
        read_file(paths[0])


def test_long_files_under_the_tick_limit_are_refused_before_pretty_midi():
    # One tick per quarter at 1 us per quarter: 19 million quarters in 19 seconds, under the
    # tick limit; quantization at 4 steps per quarter would allocate 76 million steps.
    data = smf(b"\x00\xff\x51\x03\x00\x00\x01\x00\x90\x3c\x50" + vlq(19_000_000)
               + b"\x80\x3c\x00" + END, division=1)
    with pytest.raises(ReadError, match="past 200,000 quarter notes") as error:
        midi_bytes_to_sequence(data, "coarse.mid")
    assert error.value.reason == "midi_too_long"
    # Under both tick limits, but 5.5 hours at 120 qpm: refused from the scan's tempo map.
    data = smf(b"\x00\x90\x3c\x50" + vlq(19_000_000) + b"\x80\x3c\x00" + END)
    with pytest.raises(ReadError, match="last event is at 19,792 s.*limit is 14,400 s"):
        midi_bytes_to_sequence(data, "slow.mid")


def tempo_track(count):
    return b"".join(b"\x01\xff\x51\x03" + (400_000 + k % 1000).to_bytes(3, "big")
                    for k in range(count)) + b"\x00\x90\x3c\x50\x10\x80\x3c\x00" + END


def test_too_many_tempo_changes_are_refused_and_the_limit_itself_reads():
    with pytest.raises(ReadError, match="over 100,000 tempo and time-signature") as error:
        midi_bytes_to_sequence(smf(tempo_track(limits.MAX_TIME_CHANGES + 1)), "tempi.mid")
    assert error.value.reason == "midi_too_many_events"
    sequence = midi_bytes_to_sequence(smf(tempo_track(limits.MAX_TIME_CHANGES)), "ok.mid")
    assert len(sequence.notes) == 1 and len(sequence.tempos) > 1000


def test_note_and_event_limits(monkeypatch):
    ten_notes = smf(melody(range(60, 70)) + END)
    assert midi_bytes_to_sequence(ten_notes).notes
    monkeypatch.setattr(limits, "MAX_NOTES", 10)
    assert len(midi_bytes_to_sequence(ten_notes).notes) == 10  # the limit itself reads
    monkeypatch.setattr(limits, "MAX_NOTES", 9)
    with pytest.raises(ReadError, match="over 9 notes") as error:
        midi_bytes_to_sequence(ten_notes)
    assert error.value.reason == "midi_too_many_events"
    monkeypatch.setattr(limits, "MAX_NOTES", 10 ** 6)
    monkeypatch.setattr(limits, "MAX_EVENTS", 20)  # 2 meta + 20 note events + end of track
    with pytest.raises(ReadError, match="over 20 messages"):
        midi_bytes_to_sequence(ten_notes)


def test_a_million_note_file_is_within_the_limits():
    # 2.2 hours of 8-note chords (benchmarks/big_midi_bench.py reads it whole: BENCHMARKS.md).
    summary = limits.scan_midi(midi_mutants.chord_midi(1_000_000))
    assert summary.notes == 1_000_000 and summary.events == 2_000_002
    assert summary.max_tick == 60 * 1_000_000 // 8


def test_time_division_must_be_ticks_per_quarter():
    notes = melody([60, 62]) + END
    smpte = smf(notes)[:12] + b"\xe7\x28" + smf(notes)[14:]  # 25 frames/s, 40 ticks each
    with pytest.raises(ReadError, match="SMPTE time division.*25 frames") as error:
        midi_bytes_to_sequence(smpte, "smpte.mid")
    assert error.value.reason == "unsupported_midi"
    with pytest.raises(ReadError, match="0 ticks per quarter") as error:
        midi_bytes_to_sequence(smf(notes, division=0), "zero.mid")
    assert error.value.reason == "corrupt_midi"


def test_every_real_midi_file_still_reads_and_written_files_too(tmp_path, chorales):
    for path in midi_mutants.music21_midi_files():
        sequence, = read_file(path)
        assert sequence.notes, path
    written = tmp_path / "chorale.mid"
    write_midi(chorales[0], written)
    assert read_file(written)[0].notes


@pytest.mark.parametrize("name", ["huge.mid", "huge.musicxml", "huge.abc"])
def test_files_over_the_size_limit_are_refused_without_reading_them_whole(tmp_path, name):
    path = tmp_path / name
    with open(path, "wb") as f:
        f.write(b"MThd" if name.endswith(".mid") else b"X:1\n")
        f.truncate(limits.MAX_FILE_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(ReadError, match=f"{name}: file too large") as error:
        read_file(path)
    assert error.value.reason == "file_too_large"


def test_a_zip_bomb_mxl_is_refused_before_it_is_unzipped(tmp_path, chorale_paths, monkeypatch):
    bomb = tmp_path / "bomb.mxl"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("META-INF/container.xml", '<container><rootfiles><rootfile '
                         'full-path="score.xml"/></rootfiles></container>')
        archive.writestr("score.xml", "<score-partwise>" + " " * (limits.MAX_UNZIPPED_BYTES)
                         + "</score-partwise>")
    assert bomb.stat().st_size < 200_000
    with pytest.raises(ReadError, match=r"bomb.mxl: file too large.*unzips to") as error:
        read_file(bomb)
    assert error.value.reason == "file_too_large"
    # A real score exactly at the limit reads; one byte under it, it is refused.
    with zipfile.ZipFile(chorale_paths[0]) as archive:
        unzipped = sum(info.file_size for info in archive.infolist())
    monkeypatch.setattr(limits, "MAX_UNZIPPED_BYTES", unzipped)
    assert read_file(chorale_paths[0])[0].notes
    monkeypatch.setattr(limits, "MAX_UNZIPPED_BYTES", unzipped - 1)
    with pytest.raises(ReadError, match="file too large"):
        read_file(chorale_paths[0])


def sequence_with(**changes):
    """A small valid NoteSequence, then `changes` applied: 'note_end_time=...', 'tempo_qpm=...'."""
    sequence = music_pb2.NoteSequence(total_time=2.0)
    sequence.tempos.add(time=0.0, qpm=120.0)
    sequence.time_signatures.add(time=0.0, numerator=4, denominator=4)
    for k in range(4):
        sequence.notes.add(pitch=60 + k, velocity=80, start_time=k * 0.5, end_time=k * 0.5 + 0.5)
    for key, value in changes.items():
        field, attribute = key.split("_", 1)
        item = {"note": sequence.notes[1], "tempo": sequence.tempos[0],
                "signature": sequence.time_signatures[0], "sequence": sequence}[field]
        setattr(item, attribute, value)
    return sequence


@pytest.mark.parametrize("changes, reason, words", [
    (dict(note_end_time=1e12), "sequence_too_long", "note end at 1,000,000,000,000 s"),
    (dict(note_end_time=math.nan), "invalid_sequence", "note end nan"),
    (dict(note_start_time=-1.0), "invalid_sequence", "note start -1.0"),
    (dict(note_start_time=math.inf, note_end_time=math.inf), "invalid_sequence", "inf"),
    (dict(note_start_time=1.5, note_end_time=1.0), "invalid_sequence", "ends (1.0) before"),
    (dict(note_pitch=128), "invalid_sequence", "pitch 128 outside 0..127"),
    (dict(note_velocity=-1), "invalid_sequence", "velocity -1"),
    (dict(tempo_qpm=0.0), "invalid_sequence", "tempo of 0.0 qpm"),
    (dict(tempo_qpm=math.nan), "invalid_sequence", "tempo of nan qpm"),
    (dict(tempo_time=-3.0), "invalid_sequence", "tempo time -3.0"),
    (dict(signature_denominator=0), "invalid_sequence", "time signature of 4/0"),
    (dict(sequence_total_time=math.inf), "invalid_sequence", "total_time inf"),
    (dict(sequence_total_time=5 * 3600.0), "sequence_too_long", "14,400 s"),
    # One hour at 6,000 qpm is 360,000 quarter notes: quantization allocates per step.
    (dict(sequence_total_time=3600.0, tempo_qpm=6000.0), "sequence_too_long", "360,000 quarter"),
])
def test_check_sequence_refuses_what_the_pipelines_cannot_take(changes, reason, words):
    with pytest.raises(ReadError) as error:
        check_sequence(sequence_with(**changes), "song.tfrecord: record 3")
    assert error.value.reason == reason
    assert words in str(error.value) and "song.tfrecord: record 3" in str(error.value)


def test_check_sequence_takes_real_music_and_edge_values(chorales, monkeypatch):
    for chorale in chorales:
        assert check_sequence(chorale) is chorale
    edge = sequence_with(note_pitch=127, note_velocity=0, sequence_total_time=4 * 3600.0)
    edge.time_signatures.add(time=1.0, numerator=3083, denominator=2688)  # note_seq's pickups
    check_sequence(edge)
    monkeypatch.setattr(limits, "MAX_NOTES", 3)
    with pytest.raises(ReadError, match="4 notes") as error:
        check_sequence(edge)
    assert error.value.reason == "sequence_too_many_events"


def test_bad_records_in_a_note_sequence_tfrecord_are_counted_and_skipped(tmp_path, chorales):
    path = tmp_path / "notesequences.tfrecord"
    bad_end, bad_nan = sequence_with(note_end_time=1e12), sequence_with(note_end_time=math.nan)
    write_note_sequences(path, [chorales[0], bad_end, chorales[1], bad_nan, chorales[2]])
    stats = Stats()
    assert list(read_note_sequences(path, stats)) == chorales[:3]
    assert stats["records_failed_sequence_too_long"] == 1
    assert stats["records_failed_invalid_sequence"] == 1
    assert list(read_note_sequences(path)) == chorales[:3]  # no Stats: skipped all the same
    # The same counts reach a create_dataset run's statistics through resolve_input.
    sequences, _, _ = resolve_input(path)
    assert len(list(sequences)) == 3
    assert sequences.stats["records_failed_sequence_too_long"] == 1


def test_a_bad_primer_sequence_is_a_clear_error():
    from musiczoo.models.events_rnn import primers
    with pytest.raises(primers.PrimerError, match="unusable primer.*pitch 200"):
        primers.read_primer_sequence(sequence_with(note_pitch=200))
    good = sequence_with()
    assert primers.read_primer_sequence(good) is good


FUZZ = PEAK_RSS + """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (8 * 2 ** 30, 8 * 2 ** 30))  # a backstop only
from musiczoo import commands
result = commands.create_dataset(sys.argv[1], sys.argv[2], sys.argv[3], progress=False)
print(json.dumps({"counts": dict(result.stats.counts),
                  "rss_mb": peak_rss_mb()}))
"""


def test_fuzzed_midi_files_are_each_read_or_skipped_with_a_reason(tmp_path):
    """A few hundred seeded mutants of real MIDI files through create_dataset (basic_rnn)."""
    folder = tmp_path / "mutants"
    folder.mkdir()
    mutants = midi_mutants.make_mutants(midi_mutants.music21_midi_files(), 300, seed=10)
    for name, data in mutants:
        (folder / name).write_bytes(data)
    done = subprocess.run([sys.executable, "-c", FUZZ, "basic_rnn", str(folder),
                           str(tmp_path / "out")],
                          capture_output=True, text=True, env=ENV, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    counts = report["counts"]
    failed = {k: v for k, v in counts.items() if k.startswith("files_failed_")}
    assert counts["files_read"] + sum(failed.values()) == len(mutants), counts
    assert set(failed) <= {f"files_failed_{reason}" for reason in READ_ERROR_REASONS}
    assert counts["files_read"] > 50 and failed["files_failed_midi_too_long"] > 10
    assert "MemoryError" not in done.stderr  # a refusal by exhaustion is no refusal
    assert report["rss_mb"] < 1500, report["rss_mb"]
