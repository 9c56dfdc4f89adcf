"""Events-RNN core: step/sequence agreement, real training, resume (kill -9 too), bundles."""
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from musiczoo import bundle, commands, registry
from musiczoo.models.events_rnn.model import EventsRNNModel

ROOT = pathlib.Path(__file__).resolve().parent.parent
TINY = "layer_sizes=[32],batch_size=8"


@pytest.fixture(scope="module")
def melody_dataset(tmp_path_factory, chorale_folder):
    folder = chorale_folder(24)
    out = tmp_path_factory.mktemp("basic_rnn_dataset")
    result = commands.create_dataset("basic_rnn", str(folder), out, eval_ratio=0.2,
                                     progress=False)
    assert result.counts["training"] > 20 and result.counts["eval"] > 0
    return out


@pytest.mark.parametrize("attn_length", [0, 4])
def test_step_by_step_equals_whole_sequence(attn_length):
    model = EventsRNNModel(10, 7, (16, 8), dropout_rate=0.5, attn_length=attn_length)
    x = np.random.default_rng(0).random((3, 12, 10)).astype("float32")
    whole = model(x).numpy()
    state = model.initial_state(3)
    steps = []
    for t in range(12):
        logits, state = model.step(x[:, t], state)
        steps.append(logits.numpy())
    np.testing.assert_allclose(np.stack(steps, axis=1), whole, atol=1e-5)
    assert not np.allclose(model(x, training=True).numpy(), whole)   # dropout is live


def test_training_lowers_loss_and_writes_a_loadable_bundle(melody_dataset, tmp_path):
    run = tmp_path / "run"
    first = commands.train(melody_dataset, run, config="basic_rnn", hparams=TINY,
                           num_training_steps=1, eval_every=1, progress=False)
    later = commands.train(melody_dataset, run, config="basic_rnn", hparams=TINY,
                           num_training_steps=150, eval_every=150, progress=False)
    assert later["step"] == 150
    assert later["eval_loss"] < first["eval_loss"] - 0.5
    assert later["eval_accuracy"] > first["eval_accuracy"]
    assert (run / "train").is_dir() and list((run / "train").iterdir())   # TensorBoard
    path = run / "basic_rnn.mzb"
    contents = bundle.read_bundle(path, registry.families())
    assert contents.metadata["steps"] == 150
    assert contents.metadata["eval_metrics"]["loss"] == pytest.approx(later["eval_loss"])
    family = registry.get_family("melody_rnn").model_class()
    loaded = family.from_bundle(contents, path)
    x = np.eye(38, dtype=np.float32)[np.random.default_rng(1).integers(0, 38, (2, 30))]
    original = family.from_config(loaded.config)
    assert not np.allclose(original.model(x).numpy(), loaded.model(x).numpy())
    # Fine-tuning starts from the bundle's weights, not from scratch.
    tuned = commands.train(melody_dataset, tmp_path / "tuned", bundle=str(path),
                           num_training_steps=5, eval_every=5, progress=False)
    assert tuned["eval_loss"] < first["eval_loss"] - 0.5


def test_resume_keeps_the_step_count(melody_dataset, tmp_path, caplog):
    run = tmp_path / "run"
    commands.train(melody_dataset, run, config="basic_rnn", hparams=TINY,
                   num_training_steps=12, checkpoint_every=4, eval_every=0, progress=False)
    with caplog.at_level("INFO", logger="musiczoo"):
        result = commands.train(melody_dataset, run, config="basic_rnn", hparams=TINY,
                                num_training_steps=20, eval_every=0, progress=False)
    assert "resuming" in caplog.text and "from step 12" in caplog.text
    assert result["step"] == 20


def test_killed_run_resumes_from_its_last_checkpoint(melody_dataset, tmp_path):
    run = tmp_path / "run"
    code = (f"from musiczoo import commands; commands.train({str(melody_dataset)!r}, "
            f"{str(run)!r}, config='basic_rnn', hparams={TINY!r}, num_training_steps=100000, "
            "checkpoint_every=5, eval_every=0, progress=False)")
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.Popen([sys.executable, "-c", code], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(list((run / "checkpoints").glob("*.npz"))) < 2:
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    saved = sorted(int(p.stem.split("-")[1]) for p in (run / "checkpoints").glob("*.npz"))
    assert saved and saved[-1] >= 10
    result = commands.train(melody_dataset, run, config="basic_rnn", hparams=TINY,
                            num_training_steps=saved[-1] + 3, eval_every=0, progress=False)
    assert result["step"] == saved[-1] + 3
    assert not list((run / "checkpoints").glob(".*partial"))


def test_dataset_of_another_config_is_refused(melody_dataset, tmp_path):
    with pytest.raises(ValueError, match="rebuild it with --config=lookback_rnn"):
        commands.train(melody_dataset, tmp_path / "run", config="lookback_rnn", hparams=TINY,
                       num_training_steps=1, progress=False)


def test_trains_from_one_sequence_example_file_as_magenta_did(melody_dataset, tmp_path):
    """--sequence_example_file: the TFRecord alone (Magenta's training_melodies.tfrecord
    layout), its eval_ sibling found; examples made for another config are refused."""
    training_file = next(melody_dataset.glob("training_*.tfrecord"))
    lone = tmp_path / "magenta" / "training_melodies.tfrecord"
    lone.parent.mkdir()
    shutil.copy(training_file, lone)
    shutil.copy(next(melody_dataset.glob("eval_*.tfrecord")),
                lone.with_name("eval_melodies.tfrecord"))
    # Magenta's own hparam names, as a pasted melody_rnn_train line gives them.
    magenta = "batch_size=8,rnn_layer_sizes=[32],dropout_keep_prob=0.75"
    result = commands.train(lone, tmp_path / "run", config="basic_rnn", hparams=magenta,
                            num_training_steps=4, eval_every=4, progress=False)
    assert result["step"] == 4 and "eval_loss" in result
    trained = bundle.read_bundle(tmp_path / "run" / "basic_rnn.mzb", registry.families())
    assert trained.config["layer_sizes"] == [32] and trained.config["dropout_rate"] == 0.25
    with pytest.raises(ValueError, match="38 inputs per step; lookback_rnn takes 121"):
        commands.train(lone, tmp_path / "run2", config="lookback_rnn", hparams=TINY,
                       num_training_steps=2, progress=False)


@pytest.mark.parametrize("cell_type", ["gru", "layer_norm_lstm"])
def test_other_cell_types_train_save_and_sample(cell_type, melody_dataset, tmp_path):
    hparams = f"{TINY},cell_type={cell_type}"
    first = commands.train(melody_dataset, tmp_path / "run", config="basic_rnn",
                           hparams=hparams, num_training_steps=1, eval_every=1, progress=False)
    later = commands.train(melody_dataset, tmp_path / "run", config="basic_rnn",
                           hparams=hparams, num_training_steps=80, eval_every=80,
                           progress=False)
    assert later["eval_loss"] < first["eval_loss"] - 0.3
    path = tmp_path / "run" / "basic_rnn.mzb"
    loaded = musiczoo_load(path)
    assert loaded.config.cell_type == cell_type
    assert any(cell_type in w.path for w in loaded.model.weights)
    x = np.eye(38, dtype=np.float32)[np.random.default_rng(2).integers(0, 38, (2, 24))]
    state, stepped = loaded.model.initial_state(2), []
    for t in range(24):  # the compiled loop's step == the whole-sequence network
        logits, state = loaded.model.step(x[:, t], state)
        stepped.append(logits.numpy())
    np.testing.assert_allclose(np.stack(stepped, 1), loaded.model(x).numpy(), atol=1e-5)
    melodies = loaded.generate(2, 64, seed=4, beam_size=2)
    assert all(m.notes for m in melodies)
    from musiczoo.interop.importer import export_magenta_js
    from musiczoo.interop.containers import ImportFailure
    with pytest.raises(ImportFailure, match="LSTM cells only"):
        export_magenta_js(loaded, tmp_path / "js")


def musiczoo_load(path):
    from musiczoo.bundles import load_bundle
    return load_bundle(path)
