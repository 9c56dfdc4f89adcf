"""Training on what users really have: small folders (no eval split), empty datasets, bad
numbers, run folders of another config, a full disk, a diverging loss."""
import json
import subprocess

import numpy as np
import pytest

from musiczoo import commands, outputs, registry, training
from musiczoo.pipelines.datasets import build as dataset
from tests.test_cli import run_script

TINY = "layer_sizes=[16],batch_size=4"


@pytest.fixture(scope="module")
def no_eval_dataset(tmp_path_factory, chorale_folder):
    out = tmp_path_factory.mktemp("no_eval")
    result = commands.create_dataset("basic_rnn", str(chorale_folder(6)), out, eval_ratio=0.0,
                                     progress=False)
    assert result.counts["training"] > 0 and result.counts["eval"] == 0
    return out


def test_a_dataset_without_eval_examples_trains_and_says_so(no_eval_dataset, tmp_path, caplog):
    metrics = commands.train(no_eval_dataset, tmp_path / "run", config="basic_rnn",
                             hparams=TINY, num_training_steps=6, eval_every=3,
                             checkpoint_every=3, progress=False)
    assert metrics["step"] == 6 and not any(k.startswith("eval_") for k in metrics)
    assert "training without evaluation" in caplog.text
    assert (tmp_path / "run" / "basic_rnn.mzb").exists()


def test_an_empty_eval_file_is_no_evaluation(no_eval_dataset, tmp_path):
    # A Magenta-layout folder (no dataset.json) whose eval file holds no records.
    folder = tmp_path / "magenta"
    folder.mkdir()
    (folder / "training_melodies.tfrecord").write_bytes(
        (no_eval_dataset / "training_melodies.tfrecord").read_bytes())
    (folder / "eval_melodies.tfrecord").write_bytes(b"")
    metrics = commands.train(folder, tmp_path / "run", config="basic_rnn", hparams=TINY,
                             num_training_steps=2, eval_every=1, progress=False)
    assert metrics["step"] == 2 and "eval_loss" not in metrics


def test_zero_training_examples_are_refused_before_a_model_is_built(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "training_melodies.tfrecord").write_bytes(b"")
    with pytest.raises(ValueError, match="0 training examples"):
        commands.train(folder, tmp_path / "run", config="basic_rnn", num_training_steps=5)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("flags, words", [
    (["--num_training_steps=0"], "num_training_steps must be >= 1"),
    (["--num_training_steps=-5"], "num_training_steps must be >= 1"),
    (["--checkpoint_every=0"], "checkpoint_every must be >= 1"),
    (["--hparams=batch_size=0"], "batch_size must be >= 1"),
    (["--hparams=batch_size=-1"], "batch_size must be >= 1"),
    (["--hparams=dropout_rate=1.5"], "dropout_rate must lie in [0, 1)"),
])
def test_bad_training_numbers_are_one_line_errors(no_eval_dataset, tmp_path, flags, words):
    done = run_script("train", "--config=basic_rnn", f"--dataset={no_eval_dataset}",
                      f"--run_dir={tmp_path / 'run'}", *flags)
    assert done.returncode == 1, done.stderr
    assert words in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "run" / "basic_rnn.mzb").exists()


def test_a_run_folder_of_another_config_is_refused(no_eval_dataset, tmp_path):
    run = tmp_path / "run"
    commands.train(no_eval_dataset, run, config="basic_rnn", hparams=TINY,
                   num_training_steps=2, checkpoint_every=1, progress=False)
    with pytest.raises(training.RunDirError, match=r"layer_sizes=\[16\] there, \[8\] here"):
        commands.train(no_eval_dataset, run, config="basic_rnn",
                       hparams="layer_sizes=[8],batch_size=4", num_training_steps=4,
                       progress=False)
    # the same config resumes (a new batch size is allowed) ...
    metrics = commands.train(no_eval_dataset, run, config="basic_rnn",
                             hparams="layer_sizes=[16],batch_size=2", num_training_steps=3,
                             progress=False)
    assert metrics["step"] == 3
    # ... and --overwrite starts the folder afresh for the other config
    metrics = commands.train(no_eval_dataset, run, config="basic_rnn",
                             hparams="layer_sizes=[8],batch_size=4", num_training_steps=2,
                             checkpoint_every=1, progress=False, overwrite=True)
    assert metrics["step"] == 2
    steps = sorted(int(p.stem.split("-")[1]) for p in (run / "checkpoints").glob("*.npz"))
    assert steps == [1, 2]
    assert json.loads((run / "run.json").read_text())["config"]["layer_sizes"] == [8]


def test_a_checkpoint_that_does_not_fit_changes_nothing(no_eval_dataset, tmp_path):
    run = tmp_path / "run"
    commands.train(no_eval_dataset, run, config="basic_rnn", hparams=TINY,
                   num_training_steps=1, progress=False)
    checkpoint = next((run / "checkpoints").glob("*.npz"))
    with np.load(checkpoint) as data:
        arrays = {k: data[k] for k in data.files}
    slot = sorted(k for k in arrays if k.endswith("_momentum"))[-1]
    arrays[slot] = np.zeros((7, 7), np.float32)  # one optimizer slot of the wrong shape
    with open(checkpoint, "wb") as f:
        np.savez(f, **arrays)
    model = tiny_model()
    before = [w.copy() for w in model.model.get_weights()]
    import keras
    with pytest.raises(training.RunDirError, match=slot):
        training.Checkpoints(run).restore(model.model, keras.optimizers.Adam(name="adam"))
    assert all(np.array_equal(a, b) for a, b in zip(before, model.model.get_weights()))


def tiny_model():
    _, config = registry.find_config("basic_rnn")
    return registry.get_family("melody_rnn").model_class().from_config(
        registry.apply_hparams(config, TINY))


def test_checkpoints_are_restored_by_name_and_old_ones_by_position(no_eval_dataset, tmp_path):
    import keras

    from musiczoo import bundles
    run = tmp_path / "run"
    commands.train(no_eval_dataset, run, config="basic_rnn", hparams=TINY,
                   num_training_steps=1, progress=False)
    checkpoint = next((run / "checkpoints").glob("*.npz"))
    with np.load(checkpoint) as data:
        arrays = {k: data[k] for k in data.files}
    assert int(arrays["checkpoint_version"]) == 2
    assert "model/rnn/events_rnn_cell/lstm_0/kernel" in arrays
    model, optimizer = tiny_model(), keras.optimizers.Adam(name="adam")
    assert training.Checkpoints(run).restore(model.model, optimizer) == 1
    for key, variable in bundles.variables_by_key(model.model).items():
        np.testing.assert_array_equal(variable.numpy(), arrays[f"model/{key}"])
    # The same checkpoint as the version-1 layout (model_<i>, opt_<i>, in variable order).
    old = {"step": arrays["step"]}
    for i, variable in enumerate(model.model.weights):
        old[f"model_{i}"] = arrays[f"model/{bundles.variable_key(model.model, variable)}"]
    for i, variable in enumerate(optimizer.variables):
        old[f"opt_{i}"] = arrays[f"optimizer/{variable.path[len('adam/'):]}"]
    checkpoint.unlink()
    with open(run / "checkpoints" / "checkpoint-1.npz", "wb") as f:
        np.savez(f, **old)
    fresh, fresh_optimizer = tiny_model(), keras.optimizers.Adam(name="adam")
    assert training.Checkpoints(run).restore(fresh.model, fresh_optimizer) == 1
    for a, b in zip(model.model.weights + optimizer.variables,
                    fresh.model.weights + fresh_optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    metrics = commands.train(no_eval_dataset, run, config="basic_rnn", hparams=TINY,
                             num_training_steps=2, progress=False)
    assert metrics["step"] == 2


@pytest.fixture
def small_disk(tmpfs):
    return tmpfs("size=1m")


def test_a_full_disk_stops_training_clearly_and_leaves_no_partial(no_eval_dataset, small_disk):
    run = small_disk / "run"
    # 2 x LSTM(128) checkpoints are ~2.4 MiB with the optimizer slots: they cannot fit.
    with pytest.raises(outputs.OutputError, match="disk is full") as error:
        commands.train(no_eval_dataset, run, config="basic_rnn", hparams="batch_size=4",
                       num_training_steps=2, checkpoint_every=1, eval_every=0, progress=False)
    assert "checkpoint at step 1" in str(error.value)
    assert not list((run / "checkpoints").glob(".*")), "a partial checkpoint was left behind"
    # With room (the same disk, grown), the same command runs to the end.
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    metrics = commands.train(no_eval_dataset, run, config="basic_rnn", hparams="batch_size=4",
                             num_training_steps=2, checkpoint_every=1, eval_every=0,
                             progress=False)
    assert metrics["step"] == 2 and (run / "basic_rnn.mzb").exists()


def test_a_diverging_loss_stops_with_advice(no_eval_dataset, tmp_path):
    with pytest.raises(training.TrainingError, match="learning_rate") as error:
        commands.train(no_eval_dataset, tmp_path / "run", config="basic_rnn",
                       hparams=TINY + ",learning_rate=1e38,clip_norm=0",
                       num_training_steps=50, checkpoint_every=100, progress=False)
    assert "diverged" in str(error.value)
    assert not (tmp_path / "run" / "basic_rnn.mzb").exists()


def test_create_dataset_says_why_nothing_was_kept(tmp_path, chorale_folder):
    with pytest.raises(dataset.NoExamplesError) as error:
        commands.create_dataset("basic_rnn", str(chorale_folder(3)), tmp_path / "ds",
                                hparams="min_bars=200", progress=False)
    message = str(error.value)
    assert message.startswith("0 examples:")
    assert "shorter than 200 bars (min_bars, now 200): change it with --hparams=min_bars=" \
        in message
    assert error.value.stats["sequences_processed"] == 3
    assert not list((tmp_path / "ds").iterdir())  # no half dataset left


@pytest.mark.parametrize("content", ["empty", "garbage"])
def test_create_dataset_on_an_empty_or_garbage_folder_fails(tmp_path, content):
    folder = tmp_path / "in"
    folder.mkdir()
    if content == "garbage":
        for i in range(3):
            (folder / f"{i}.mid").write_bytes(b"MThd garbage " * i)
    done = run_script("create_dataset", "--config=basic_rnn", f"--input={folder}",
                      f"--output_dir={tmp_path / 'out'}")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "0 examples" in done.stderr
    if content == "garbage":
        assert "none of the 3 input files could be read" in done.stderr
        assert "files_failed_" in done.stdout  # the statistics are still printed


def test_create_dataset_refuses_to_replace_a_dataset(tmp_path, chorale_folder):
    out = tmp_path / "ds"
    commands.create_dataset("basic_rnn", str(chorale_folder(3)), out, progress=False)
    before = (out / "training_melodies.tfrecord").read_bytes()
    with pytest.raises(outputs.OutputError, match="already holds a dataset"):
        commands.create_dataset("basic_rnn", str(chorale_folder(3)), out, progress=False)
    assert (out / "training_melodies.tfrecord").read_bytes() == before
    commands.create_dataset("basic_rnn", str(chorale_folder(3)), out, progress=False,
                            overwrite=True)


def test_a_programming_error_in_an_extractor_is_not_hidden(tmp_path, chorales):
    _, config = registry.find_config("basic_rnn")
    spec = config.data_spec()

    class Broken:
        kind = "melodies"

        def extract(self, sequences, stats):
            raise TypeError("a bug, not bad input")

    broken = dataset.DataSpec(extractor=Broken(), codec=spec.codec)
    with pytest.raises(TypeError, match="a bug"):
        dataset.create_dataset(broken, chorales[:3], tmp_path / "ds", progress=False)
    assert not list((tmp_path / "ds").iterdir())
