"""Training through tf.distribute as users run it: two musiczoo_train worker processes on
this machine (localhost ports, a TF_CONFIG each), the chief alone writing the run folder,
both ending with the same weights, resume, the mirrored strategy against the default one,
and one clear line for a bad strategy or cluster."""
import json
import os
import shutil
import socket
import subprocess
import sys

import pytest

from musiczoo import commands, distribute, load_bundle
from tests.test_cli import ROOT, run_script

# No dropout (its masks are random), so every strategy computes the same losses; a tiny
# clip norm clips every step, so a step that clipped each replica's part of the gradient
# instead of the whole would show.
HPARAMS = "layer_sizes=[16],batch_size=4,dropout_rate=0,clip_norm=0.01"
SEED = 3


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, chorale_folder):
    out = tmp_path_factory.mktemp("dataset")
    result = commands.create_dataset("basic_rnn", str(chorale_folder(10)), out,
                                     eval_ratio=0.5, progress=False)
    # 5 eval examples in batches of 4: the last batch leaves a replica nothing.
    assert result.counts["training"] > 0 and result.counts["eval"] > 0
    return out


def train(dataset, run, steps, **options):
    return commands.train(dataset, run, config="basic_rnn", hparams=HPARAMS,
                          num_training_steps=steps, eval_every=steps, seed=SEED,
                          progress=False, **options)


@pytest.fixture(scope="module")
def started(dataset, tmp_path_factory):
    """A run one default step in (checkpoint-1): every strategy goes on from its weights."""
    run = tmp_path_factory.mktemp("runs") / "started"
    train(dataset, run, 1, checkpoint_every=1)
    return run


@pytest.fixture(scope="module")
def by_default(dataset, started, tmp_path_factory):
    run = tmp_path_factory.mktemp("default") / "run"
    shutil.copytree(started, run)
    return train(dataset, run, 3)


def close_to(metrics, expected):
    for key in ("loss", "eval_loss"):
        assert metrics[key] == pytest.approx(expected[key], rel=1e-4), key
    for key in ("accuracy", "event_accuracy", "eval_accuracy", "eval_event_accuracy"):
        assert metrics[key] == pytest.approx(expected[key], abs=2e-3), key


def test_mirrored_trains_to_the_default_strategys_loss(dataset, started, by_default, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(started, run)
    metrics = train(dataset, run, 3, strategy="mirrored")
    assert metrics["step"] == 3
    close_to(metrics, by_default)
    assert (run / "basic_rnn.mzb").exists() and (run / "checkpoints" / "checkpoint-3.npz").exists()


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def run_workers(dataset, run, steps, folder):
    """Two musiczoo_train processes, worker 0 (the chief) and worker 1, each with its
    TF_CONFIG; returns [(pid, returncode, stderr)] and each worker's weight digest."""
    addresses = [f"localhost:{port}" for port in free_ports(2)]
    digests = folder / "digests"
    digests.mkdir(parents=True, exist_ok=True)
    workers = []
    for index in range(2):
        scratch = folder / f"tmp{index}"  # where a worker's temporary folder goes
        scratch.mkdir(exist_ok=True)
        env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2",
                   TMPDIR=str(scratch), MUSICZOO_WEIGHT_DIGEST_DIR=str(digests),
                   TF_CONFIG=json.dumps({"cluster": {"worker": addresses},
                                         "task": {"type": "worker", "index": index}}))
        workers.append(subprocess.Popen(
            [sys.executable, "-m", "musiczoo.scripts.train", "--config=basic_rnn",
             f"--hparams={HPARAMS}", f"--dataset={dataset}", f"--run_dir={run}",
             f"--num_training_steps={steps}", f"--eval_every={steps}", f"--seed={SEED}",
             "--strategy=multi_worker"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    done = []
    try:
        for worker in workers:
            _, stderr = worker.communicate(timeout=240)
            done.append((worker.pid, worker.returncode, stderr))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    for pid, returncode, stderr in done:
        assert returncode == 0, stderr
    for index in range(2):
        assert not list((folder / f"tmp{index}").iterdir()), "a worker left its files"
    return done, [json.loads((digests / f"worker-{i}.json").read_text()) for i in range(2)]


def event_files(run):
    return sorted(p.name for p in run.glob("*/events.out.tfevents.*"))


def test_two_worker_processes_train_agree_and_resume(dataset, started, by_default, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(started, run)
    done, digests = run_workers(dataset, run, 3, tmp_path / "first")
    (chief_pid, _, chief_log), (worker_pid, _, worker_log) = done
    assert [d["step"] for d in digests] == [3, 3] and [d["replicas"] for d in digests] == [2, 2]
    assert digests[0]["sha256"] == digests[1]["sha256"]
    # Both resumed from the chief's checkpoint-1 and reduced the global batch's loss as
    # one device does.
    assert f"resuming {run} from step 1" in chief_log
    assert "resuming the chief's run from step 1" in worker_log
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["step"] == 3
    close_to(metrics, by_default)
    # The chief wrote the checkpoints and the bundle; the worker nothing in the run folder.
    assert (run / "checkpoints" / "checkpoint-3.npz").exists()
    assert (run / "basic_rnn.mzb").exists()
    events = event_files(run)
    assert any(f".{chief_pid}." in name for name in events)
    assert not any(f".{worker_pid}." in name for name in events)

    # Started again (as after an interruption), both go on from the last checkpoint.
    done, digests = run_workers(dataset, run, 5, tmp_path / "again")
    (chief_pid, _, chief_log), (worker_pid, _, worker_log) = done
    assert f"resuming {run} from step 3" in chief_log
    assert [d["step"] for d in digests] == [5, 5]
    assert digests[0]["sha256"] == digests[1]["sha256"]
    assert (run / "checkpoints" / "checkpoint-5.npz").exists()
    assert json.loads((run / "metrics.json").read_text())["step"] == 5
    assert not any(f".{worker_pid}." in name for name in event_files(run))
    assert load_bundle(str(run / "basic_rnn.mzb")).metadata["steps"] == 5


CLUSTER = {"worker": ["localhost:2222", "localhost:2223"]}


@pytest.mark.parametrize("text, words", [
    (None, "TF_CONFIG environment variable, which is not set"),
    ("   ", "which is not set"),
    ('{"cluster": ', "is not JSON"),
    ("[1, 2]", "is a JSON list, not an object"),
    (json.dumps({"task": {"type": "worker", "index": 0}}), 'has no "cluster"'),
    (json.dumps({"cluster": CLUSTER}), 'has no "task"'),
    (json.dumps({"cluster": {"worker": ["localhost"]}, "task": {"type": "worker"}}),
     "'localhost', not \"host:port\""),
    (json.dumps({"cluster": {"worker": "localhost:99999"}, "task": {"type": "worker"}}),
     "not \"host:port\""),
    (json.dumps({"cluster": {"worker": ["a:1", "a:1"]}, "task": {"type": "worker"}}),
     "lists 'a:1' twice"),
    (json.dumps({"cluster": dict(CLUSTER, ps=["b:1"]), "task": {"type": "worker"}}),
     "has a 'ps' job"),
    (json.dumps({"cluster": CLUSTER, "task": {"type": "chief", "index": 0}}),
     "task type 'chief' is not a job of its cluster"),
    (json.dumps({"cluster": CLUSTER, "task": {"type": "worker", "index": 2}}),
     "task index 2 is not one of the 2 worker task(s)"),
    (json.dumps({"cluster": CLUSTER, "task": {"type": "worker", "index": "1"}}),
     "task index '1'"),
])
def test_a_bad_tf_config_is_one_clear_error(text, words):
    with pytest.raises(distribute.DistributeError) as error:
        distribute.read_tf_config(text)
    assert words in str(error.value) and "\n" not in str(error.value)


def test_tf_config_names_the_chief():
    def chief(cluster, task_type, index):
        return distribute.read_tf_config(json.dumps(
            {"cluster": cluster, "task": {"type": task_type, "index": index}}))["is_chief"]
    assert chief(CLUSTER, "worker", 0) and not chief(CLUSTER, "worker", 1)
    with_chief = dict(CLUSTER, chief=["localhost:2224"])
    assert chief(with_chief, "chief", 0) and not chief(with_chief, "worker", 0)
    assert distribute.read_tf_config(json.dumps(
        {"cluster": with_chief, "task": {"type": "worker", "index": 1}}))["num_workers"] == 3


def test_an_unknown_strategy_is_refused_before_anything_is_built(dataset, tmp_path):
    with pytest.raises(distribute.DistributeError, match="did you mean 'mirrored'"):
        train(dataset, tmp_path / "run", 1, strategy="mirored")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("strategy, tf_config, words", [
    ("multi_worker", None, "--strategy=multi_worker reads the cluster from the TF_CONFIG"),
    ("multi_worker", '{"cluster": {"worker": ["localhost:1"]}, "task": ',
     "TF_CONFIG is not JSON"),
    ("multiworker", None, "unknown --strategy 'multiworker' (did you mean 'multi_worker'?)"),
])
def test_the_cli_says_what_is_wrong_in_one_line(dataset, tmp_path, monkeypatch, strategy,
                                                tf_config, words):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    if tf_config is not None:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    done = run_script("train", "--config=basic_rnn", f"--dataset={dataset}",
                      f"--run_dir={tmp_path / 'run'}", f"--strategy={strategy}")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert lines[0].startswith(f"musiczoo_train: error: {words}")
    assert not (tmp_path / "run").exists()
