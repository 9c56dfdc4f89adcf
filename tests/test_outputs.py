"""Outputs never overwrite silently, never leave the folder given, never replace special
files, appear whole or not at all, and generated MIDI ends on its last bar line."""
import os
import pathlib
import re
import stat
import subprocess
import sys
import textwrap

import mido
import pytest

import musiczoo
from musiczoo import bundle, commands, outputs
from musiczoo.pipelines.extract import melodies
from musiczoo.pipelines.readers.files import convert_directory, read_file
from musiczoo.pipelines.readers.records import read_note_sequences
from musiczoo.pipelines.writers import write_midi, write_midi_files

ROOT = pathlib.Path(__file__).resolve().parent.parent
TAGGED = re.compile(r"(?P<stem>.+)_\d{8}-\d{6}(-\d+)?_(?P<n>\d{3}|all)\.mid")


def melody(pitch):
    return melodies.melody_to_note_sequence([pitch, -2, -2, -2] * 8, 4)


def test_safe_names_keep_only_harmless_characters():
    assert outputs.safe_name("../../x") == "x"
    assert outputs.safe_name("/etc/passwd") == "etc_passwd"
    assert outputs.safe_name("..") == "output" and outputs.safe_name("", "fallback") == "fallback"
    assert outputs.safe_name(".hidden name\n") == "hidden_name"
    assert outputs.safe_name("cat-mel_2bar_small") == "cat-mel_2bar_small"
    assert len(outputs.safe_name("a" * 500)) == 80
    with pytest.raises(outputs.OutputError, match="would leave"):
        outputs.inside(pathlib.Path("/tmp/x"), "../y")


def test_a_second_run_never_replaces_the_first(tmp_path):
    first = write_midi_files([melody(60), melody(62)], tmp_path, "basic_rnn")
    before = {p: p.read_bytes() for p in first}
    second = write_midi_files([melody(64), melody(65)], tmp_path, "basic_rnn")
    assert len(set(first) | set(second)) == 4
    assert all(TAGGED.fullmatch(p.name) for p in first + second)
    assert {p: p.read_bytes() for p in first} == before
    assert [read_file(p)[0].notes[0].pitch for p in second] == [64, 65]
    # --overwrite: the fixed names, replaced in place (and only those)
    fixed = write_midi_files([melody(67)], tmp_path, "basic_rnn", overwrite=True)
    again = write_midi_files([melody(69)], tmp_path, "basic_rnn", overwrite=True)
    assert fixed == again == [tmp_path / "basic_rnn_001.mid"]
    assert read_file(fixed[0])[0].notes[0].pitch == 69
    assert len(list(tmp_path.iterdir())) == 5  # no temporary file left behind


def test_parallel_runs_into_one_folder_lose_nothing(tmp_path):
    # Four processes, 24 pieces each, the same stem and (very likely) the same second.
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from musiczoo.pipelines.extract import melodies
        from musiczoo.pipelines.writers import write_midi_files
        pitch = int(sys.argv[1])
        pieces = [melodies.melody_to_note_sequence([pitch, -2] * 16, 4) for _ in range(24)]
        for path in write_midi_files(pieces, sys.argv[2], "basic_rnn"):
            print(path)
    """)
    runs = [subprocess.Popen([sys.executable, "-c", script, str(60 + i), str(tmp_path)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for i in range(4)]
    printed = []
    for run in runs:
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
        printed += out.split()
    files = sorted(tmp_path.glob("*.mid"))
    assert len(files) == len(set(printed)) == 96
    pitches = sorted(read_file(p)[0].notes[0].pitch for p in files)
    assert pitches == sorted([60, 61, 62, 63] * 24)


def test_special_and_taken_targets_are_refused(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(outputs.OutputError, match="not a regular file"):
        outputs.write_bytes(fifo, b"x", overwrite=True)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    with pytest.raises(outputs.OutputError, match="not a regular file"):
        outputs.check_target("/dev/null", overwrite=True)  # checked, never written
    taken = tmp_path / "taken.mid"
    taken.write_bytes(b"mine")
    with pytest.raises(outputs.OutputError, match="--overwrite"):
        write_midi(melody(60), taken, overwrite=False)
    assert taken.read_bytes() == b"mine"
    # a symbolic link is replaced as a link: its target is never written through
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep")
    link = tmp_path / "link.mid"
    link.symlink_to(target)
    write_midi(melody(60), link, overwrite=True)
    assert target.read_text() == "keep" and not link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "elsewhere.txt", "link.mid", "pipe", "taken.mid"]


def test_convert_refuses_a_special_file_and_an_existing_output(tmp_path, chorale_paths):
    from tests.test_cli import run_script
    source = tmp_path / "in"
    source.mkdir()
    (source / "a.mxl").write_bytes(chorale_paths[0].read_bytes())
    fifo = tmp_path / "records"
    os.mkfifo(fifo)
    done = run_script("convert", f"--input_dir={source}", f"--output_file={fifo}",
                      "--overwrite")
    assert done.returncode == 1 and "not a regular file" in done.stderr
    assert "Traceback" not in done.stderr and stat.S_ISFIFO(os.lstat(fifo).st_mode)
    existing = tmp_path / "out.tfrecord"
    existing.write_bytes(b"keep me")
    done = run_script("convert", f"--input_dir={source}", f"--output_file={existing}")
    assert done.returncode == 1 and "--overwrite" in done.stderr
    assert existing.read_bytes() == b"keep me"
    done = run_script("convert", f"--input_dir={source}", f"--output_file={existing}",
                      "--overwrite")
    assert done.returncode == 0, done.stderr
    assert len(list(read_note_sequences(existing))) == 1


def _renamed_bundle(tmp_path, name):
    contents = bundle.read_bundle(musiczoo.bundles.resolve_bundle("basic_rnn"))
    config = dict(contents.config, name=name)
    return bundle.write_bundle(tmp_path / "renamed.mzb", family=contents.family,
                               config_name=name, config=config, codec=contents.codec,
                               weights=contents.weights, metadata=contents.metadata)


@pytest.mark.parametrize("name", ["../../escaped", "/tmp/absolute_escape"])
def test_a_bundle_name_cannot_steer_outputs_out_of_the_folder(tmp_path, name):
    path = _renamed_bundle(tmp_path, name)
    out = tmp_path / "a" / "b" / "out"
    written = commands.generate(str(path), out, num_outputs=2, num_steps=16, seed=1)
    assert all(p.parent == out for p in written)
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == ["out"]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b"]
    assert not list(pathlib.Path("/tmp").glob("absolute_escape*"))
    model = musiczoo.load_bundle(str(path))
    assert model.run_bundle_path(tmp_path / "run").parent == tmp_path / "run"


@pytest.fixture
def read_only_dir(tmpfs):
    return tmpfs("ro,size=1m")


def test_unwritable_outputs_are_one_line_errors(read_only_dir, tmp_path, chorale_paths):
    from tests.test_cli import run_script
    target = read_only_dir / "out"
    done = run_script("generate", "--bundle=basic_rnn", f"--output_dir={target}",
                      "--num_outputs=1", "--num_steps=16")
    assert done.returncode == 1 and "read-only" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    a_file = tmp_path / "plain_file"
    a_file.write_text("x")
    dataset_dir = tmp_path / "ds"
    commands.create_dataset("basic_rnn", str(chorale_paths[0]), dataset_dir, eval_ratio=0,
                            progress=False)
    for folder in (read_only_dir, a_file, a_file / "below"):
        with pytest.raises(outputs.OutputError):
            outputs.output_dir(folder)
        with pytest.raises(outputs.OutputError):
            commands.create_dataset("basic_rnn", str(chorale_paths[0]), folder, progress=False)
        with pytest.raises(outputs.OutputError):
            convert_directory(str(tmp_path / "no_such_input"), str(folder / "x.tfrecord"))
        with pytest.raises(outputs.OutputError):
            commands.interpolate("cat-mel_2bar_small", chorale_paths[0], chorale_paths[1],
                                 folder / "interp")
        with pytest.raises(outputs.OutputError):
            commands.train(dataset_dir, folder / "run", config="basic_rnn",
                           num_training_steps=1, progress=False)


@pytest.mark.parametrize("name, steps, bars", [
    ("basic_rnn", 30, 2),               # 30 16th notes end in bar 2: the file lasts 2 bars
    ("basic_rnn", 128, 8),              # 8 bars exactly
    ("drum_kit_rnn", 20, 2),
    ("cat-drums_2bar_small", None, 2),  # the 2-bar loop lasts 2 bars, not to its last hit
    ("cat-mel_2bar_small", None, 2),
    ("chorale_transformer", 24, 2),     # 24 grid steps: 1.5 bars -> 2 bars
])
def test_generated_midi_ends_on_its_last_bar_line(tmp_path, name, steps, bars):
    written = commands.generate(name, tmp_path, num_outputs=3, num_steps=steps, seed=3,
                                temperature=0.5)
    for path in written:
        sequence = read_file(path)[0]
        qpm = sequence.tempos[0].qpm if sequence.tempos else 120.0
        seconds = bars * 4 * 60.0 / qpm  # every family writes 4/4
        assert mido.MidiFile(path).length == pytest.approx(seconds, abs=1e-6), path
        assert max((n.end_time for n in sequence.notes), default=0) <= seconds + 1e-6
