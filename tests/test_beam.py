"""create_dataset as an Apache Beam pipeline (--runner=beam): the same examples and the same
statistics as the local run, on real files, on Beam's DirectRunner with two workers."""
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("apache_beam")

from musiczoo import commands  # noqa: E402
from musiczoo.pipelines.datasets import build  # noqa: E402
from musiczoo.pipelines.readers.records import write_note_sequences  # noqa: E402
from tests.test_dataset import fill_music_folder, write_drum_midi  # noqa: E402

# The DirectRunner's Python engine (FnApiRunner), two worker threads. Beam's DirectRunner
# first tries the Prism runner, a Go binary it downloads from GitHub, and falls back to
# this engine when it cannot (always, offline); naming it keeps CI off the network.
OPTIONS = "--runner=FnApiRunner --direct_num_workers=2 --direct_running_mode=multi_threading"
MMA_STYLES = ("8beat", "bossanova", "50srock")


def records(path):
    import tensorflow as tf
    return sorted(record.numpy() for record in tf.data.TFRecordDataset(str(path)))


def both(config, input_spec, tmp_path, eval_ratio, options=OPTIONS):
    """(local result, Beam result) of the same dataset."""
    local = commands.create_dataset(config, input_spec, tmp_path / "local",
                                    eval_ratio=eval_ratio, progress=False)
    beam = commands.create_dataset(config, input_spec, tmp_path / "beam", eval_ratio=eval_ratio,
                                   runner="beam", pipeline_options=options)
    return local, beam


def assert_same(local, beam):
    assert beam.counts == local.counts
    assert beam.stats.as_dict() == local.stats.as_dict()
    assert beam.stats.report() == local.stats.report()
    for mode in build.MODES:
        assert beam.paths[mode].name == local.paths[mode].name
        assert records(beam.paths[mode]) == records(local.paths[mode])  # as multisets
    assert json.loads(beam.info_path.read_text()) == json.loads(local.info_path.read_text())
    # Nothing else is left in the folder: the shards' temporary folder went.
    folder = beam.info_path.parent
    assert sorted(os.listdir(folder)) == sorted(
        os.listdir(local.info_path.parent)) == sorted(
        ["dataset.json"] + [path.name for path in beam.paths.values()])


@pytest.fixture(scope="module")
def music_folder(chorale_paths, tmp_path_factory):
    """12 chorales, a drum groove and three files that are not MIDI."""
    return fill_music_folder(tmp_path_factory.mktemp("music"), chorale_paths)


@pytest.fixture(scope="module")
def drum_folder(tmp_path_factory):
    """Drum grooves: MMA's 8beat, bossanova and 50srock styles rendered by Debian's mma
    (where installed; required when MUSICZOO_REQUIRE_MMA=1), plus four rock grooves."""
    folder = tmp_path_factory.mktemp("drums")
    for i, (bars, qpm) in enumerate([(8, 120.0), (9, 100.0), (12, 90.0), (10, 132.0)]):
        write_drum_midi(folder / f"rock_{i}.mid", bars=bars, qpm=qpm)
    if shutil.which("mma") or os.environ.get("MUSICZOO_REQUIRE_MMA") == "1":
        from musiczoo.pipelines.readers.mma import MMA_LIBRARY_DIRS, build_mma_grooves
        library = tmp_path_factory.mktemp("mma_lib")
        stdlib = next(pathlib.Path(d) / "stdlib" for d in MMA_LIBRARY_DIRS
                      if os.path.isdir(d))
        for style in MMA_STYLES:
            shutil.copy(stdlib / f"{style}.mma", library)
        stats = build_mma_grooves(folder / "mma", library_dir=library, progress=False)
        assert stats["grooves_written"] > 10
    return folder


def test_melody_dataset_same_examples_and_statistics(music_folder, tmp_path):
    local, beam = both("basic_rnn", music_folder, tmp_path, eval_ratio=0.25)
    assert_same(local, beam)
    stats = beam.stats
    # Each bad file counted under its reason by the workers, as by the local reader.
    assert stats["files_failed_empty_file"] == stats["files_failed_corrupt_midi"] == 1
    assert stats["files_failed_not_midi"] == 1 and stats["files_read"] == 13
    assert beam.counts["training"] > 5 and beam.counts["eval"] > 0
    assert stats.histograms["melody_lengths_in_bars"] == local.stats.histograms[
        "melody_lengths_in_bars"]


def test_drum_datasets_and_the_eval_join(drum_folder, tmp_path):
    # drum_kit: whole drum tracks; cat-drums_2bar_small: 2-bar windows, with the eval
    # windows equal to a training window dropped (the key join in Beam).
    local, beam = both("drum_kit", drum_folder, tmp_path / "tracks", eval_ratio=0.3)
    assert_same(local, beam)
    assert beam.counts["training"] >= 3
    local, beam = both("cat-drums_2bar_small", drum_folder, tmp_path / "windows",
                       eval_ratio=0.3)
    assert_same(local, beam)
    assert beam.stats["eval_windows_duplicate_of_training"] > 0 and beam.counts["eval"] > 0


def test_note_sequence_tfrecord_with_a_bad_record_and_several_inputs(music_folder,
                                                                     drum_folder, tmp_path):
    from musiczoo.pipelines.readers.files import iter_music_files, read_files
    sequences = list(read_files(iter_music_files(music_folder), progress=False,
                                root_dir=music_folder))
    bad = type(sequences[0])()
    bad.CopyFrom(sequences[0])
    bad.id, bad.notes[0].pitch = "/id/bad", 300  # a pitch no pipeline can take
    path = tmp_path / "notesequences.tfrecord"
    write_note_sequences(path, sequences + [bad])
    temp = tmp_path / "beam_temp"  # where the workers' shards go when the options say
    local, beam = both("basic_rnn", f"{path},{drum_folder}", tmp_path, eval_ratio=0.25,
                       options=f"{OPTIONS} --temp_location={temp}")
    assert_same(local, beam)
    assert beam.stats["records_failed_invalid_sequence"] == 1
    assert os.listdir(temp) == []


def test_no_training_examples_raises_as_the_local_run(music_folder, tmp_path):
    errors = []
    for runner, options in [("local", None), ("beam", OPTIONS)]:
        with pytest.raises(build.NoExamplesError) as raised:
            # no chorale has drums, and drums.mid lands on the eval side at 0.99
            commands.create_dataset("drum_kit", music_folder, tmp_path / runner,
                                    eval_ratio=0.99, progress=False, runner=runner,
                                    pipeline_options=options)
        errors.append(raised.value)
        assert os.listdir(tmp_path / runner) == []  # nothing written
    assert str(errors[1]) == str(errors[0])
    assert errors[1].stats.as_dict() == errors[0].stats.as_dict()


def run_script(args, env=None):
    return subprocess.run([sys.executable, "-m", "musiczoo.scripts.create_dataset", *args],
                          capture_output=True, text=True, env={**os.environ, **(env or {})},
                          timeout=300)


def test_cli_runs_beam_end_to_end(chorale_folder, tmp_path):
    from musiczoo import training
    folder = chorale_folder(3)
    # The command line, DirectRunner by name; `--prism_location` at a missing file
    # makes it fall back to its Python engine here and in CI alike (see OPTIONS).
    options = (f"--runner=DirectRunner --direct_num_workers=2 "
               f"--direct_running_mode=multi_threading --prism_location={tmp_path}/no_prism")
    done = run_script(["--config=basic_rnn", f"--input={folder}", f"--output_dir={tmp_path}/ds",
                       "--eval_ratio=0.3", "--runner=beam", f"--pipeline_options={options}"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "basic_rnn dataset statistics:" in done.stdout
    assert "training: " in done.stdout and "training_melodies.tfrecord" in done.stdout
    files, info = training.dataset_files(tmp_path / "ds")  # musiczoo_train reads it as is
    assert files["training"].name == "training_melodies.tfrecord"
    assert info["examples"]["training"] == len(records(files["training"])) > 0


def test_cli_without_beam_says_what_to_install(tmp_path):
    blocker = tmp_path / "no_beam" / "apache_beam"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('apache_beam is blocked here')\n")
    done = run_script(["--config=basic_rnn", "--input=bach_chorales",
                       f"--output_dir={tmp_path}/ds", "--runner=beam"],
                      env={"PYTHONPATH": str(tmp_path / "no_beam")})
    assert done.returncode != 0 and "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if "error" in line.lower()]
    assert lines == ["musiczoo_create_dataset: error: --runner=beam needs Apache Beam, which "
                     "is not installed: pip install 'musiczoo[beam]'"], done.stderr[-2000:]
    assert not (tmp_path / "ds").exists()
