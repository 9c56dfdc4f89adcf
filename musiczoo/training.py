"""Teacher-forced training of sequence models on create_dataset folders, for every family.

Masked cross-entropy with Magenta's metrics (loss, perplexity, accuracy, event accuracy:
accuracy where the label is not "no event"), Adam with global-norm clipping, TensorBoard
summaries, and checkpoints written atomically so a run killed at any moment (kill -9
included) resumes from its last checkpoint with its step count intact.
"""
import json
import logging
import os
import pathlib
import time

import numpy as np

from musiczoo.pipelines import dataset as dataset_lib
from musiczoo.pipelines import tfrecord
from musiczoo.progress import Progress

log = logging.getLogger("musiczoo")
CHECKPOINT_PREFIX = "checkpoint-"


def dataset_files(dataset_dir, kind=None):
    """{mode: path} of a create_dataset folder (training required, eval optional)."""
    folder = pathlib.Path(dataset_dir)
    info = dataset_lib.read_dataset_info(folder)
    if info:
        files = {mode: folder / name for mode, name in info["files"].items()}
    else:  # a Magenta dataset folder: training_<kind>.tfrecord / eval_<kind>.tfrecord
        files = {}
        for mode in dataset_lib.MODES:
            found = sorted(folder.glob(f"{mode}_*.tfrecord"))
            if found:
                files[mode] = found[0]
    if "training" not in files or not files["training"].exists():
        raise FileNotFoundError(f"{folder}: no training_*.tfrecord (run musiczoo_create_dataset)")
    return {mode: path for mode, path in files.items() if path.exists()}, info


class Checkpoints:
    """Model + optimizer variables and the step, as one .npz per save (atomic rename)."""

    def __init__(self, run_dir, keep=3):
        self.dir = pathlib.Path(run_dir) / "checkpoints"
        self.keep = keep

    def paths(self):
        found = []
        for path in self.dir.glob(f"{CHECKPOINT_PREFIX}*.npz"):
            try:
                found.append((int(path.stem[len(CHECKPOINT_PREFIX):]), path))
            except ValueError:
                continue
        return [p for _, p in sorted(found)]

    def save(self, step, model, optimizer):
        self.dir.mkdir(parents=True, exist_ok=True)
        arrays = {f"model_{i}": np.asarray(v.numpy()) for i, v in enumerate(model.weights)}
        arrays.update({f"opt_{i}": np.asarray(v.numpy())
                       for i, v in enumerate(optimizer.variables)})
        final = self.dir / f"{CHECKPOINT_PREFIX}{step}.npz"
        partial = self.dir / f".{final.name}.partial"
        with open(partial, "wb") as f:
            np.savez(f, step=np.int64(step), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, final)
        for old in self.paths()[:-self.keep]:
            old.unlink(missing_ok=True)
        return final

    def restore(self, model, optimizer):
        """Loads the newest readable checkpoint; returns its step (0 when none)."""
        for path in reversed(self.paths()):
            try:
                with np.load(path) as data:
                    weights = [data[f"model_{i}"] for i in range(len(model.weights))]
                    model.set_weights(weights)
                    slots = [k for k in data.files if k.startswith("opt_")]
                    if slots:
                        optimizer.build(model.trainable_variables)
                        for i, variable in enumerate(optimizer.variables):
                            variable.assign(data[f"opt_{i}"])
                    return int(data["step"])
            except (OSError, KeyError, ValueError) as error:
                log.warning("ignoring unreadable checkpoint %s: %s", path, error)
        return 0


def masked_metrics(tf, logits, labels, lengths, no_event_id):
    """Next-event cross-entropy and accuracies over the `lengths`-masked positions."""
    mask = tf.sequence_mask(lengths, tf.shape(labels)[1], dtype=tf.float32)
    labels = tf.cast(labels, tf.int32)
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    count = tf.maximum(tf.reduce_sum(mask), 1.0)
    loss = tf.reduce_sum(losses * mask) / count
    correct = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels), tf.float32)
    events = mask * tf.cast(tf.not_equal(labels, no_event_id), tf.float32)
    return {"loss": loss, "accuracy": tf.reduce_sum(correct * mask) / count,
            "event_accuracy": tf.reduce_sum(correct * events) / tf.maximum(tf.reduce_sum(events), 1.0),
            "weight": count}


def train_model(model, dataset_dir, run_dir, *, input_size, no_event_id, batch_size,
                learning_rate, clip_norm, num_training_steps, eval_every=200, checkpoint_every=100,
                summary_every=20, seed=None, progress=True, max_length=None, metrics_fn=None,
                shuffle_buffer=2048, eval_max_length=None, crop_align=1, crop_start_input=None):
    """Trains `model` (inputs [B, T, D] -> logits) to `num_training_steps` total steps,
    resuming from `run_dir` if it holds checkpoints. Returns the final metrics dict.

    `learning_rate` may be a Keras LearningRateSchedule. `metrics_fn(inputs, lengths,
    labels, training, step)` replaces the next-event cross-entropy for models with their own
    objective (MusicVAE); it returns a dict with at least "loss" (minimised) and "weight"
    (what eval averages over), plus "nll_per_step" when perplexity should be reported.
    `eval_max_length` cuts eval examples into consecutive chunks of that many steps (all
    of every example is scored, at most that much at a time). `crop_align` and
    `crop_start_input` shape the windows (see tfrecord.make_input_fn)."""
    import keras
    import tensorflow as tf

    files, _ = dataset_files(dataset_dir)
    run_dir = pathlib.Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    optimizer = keras.optimizers.Adam(learning_rate, global_clipnorm=clip_norm or None)
    checkpoints = Checkpoints(run_dir)
    step = checkpoints.restore(model, optimizer)
    if step:
        log.info("resuming %s from step %d", run_dir, step)
    train_data = iter(tfrecord.make_input_fn(files["training"], input_size, batch_size,
                                             shuffle=True, repeat=True, seed=seed,
                                             max_length=max_length,
                                             shuffle_buffer=shuffle_buffer,
                                             crop_align=crop_align,
                                             crop_start_input=crop_start_input))
    writers = {mode: tf.summary.create_file_writer(str(run_dir / mode)) for mode in ("train", "eval")}

    if metrics_fn is None:
        def metrics_fn(inputs, lengths, labels, training, step):
            return masked_metrics(tf, model(inputs, training=training), labels, lengths,
                                   no_event_id)

    @tf.function(reduce_retracing=True)
    def train_step(inputs, lengths, labels):
        with tf.GradientTape() as tape:
            metrics = metrics_fn(inputs, lengths, labels, True, optimizer.iterations)
        grads = tape.gradient(metrics["loss"], model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return metrics

    @tf.function(reduce_retracing=True)
    def eval_step(inputs, lengths, labels):
        return metrics_fn(inputs, lengths, labels, False, optimizer.iterations)

    def evaluate():
        if "eval" not in files:
            return {}
        totals, weight = {}, 0.0
        for (inputs, lengths), labels in tfrecord.make_input_fn(
                files["eval"], input_size, batch_size, shuffle=False,
                max_length=eval_max_length, chunks=bool(eval_max_length),
                crop_start_input=crop_start_input):
            metrics = eval_step(inputs, lengths, labels)
            w = float(metrics["weight"])
            for key, value in metrics.items():
                if key != "weight":
                    totals[key] = totals.get(key, 0.0) + float(value) * w
            weight += w
        result = {f"eval_{k}": v / max(weight, 1.0) for k, v in totals.items()}
        result["eval_perplexity"] = float(np.exp(result.get("eval_nll_per_step",
                                                            result["eval_loss"])))
        return result

    bar = Progress("training", total=num_training_steps - step, unit="steps", enabled=progress)
    history = {}
    started = time.monotonic()
    while step < num_training_steps:
        (inputs, lengths), labels = next(train_data)
        metrics = train_step(inputs, lengths, labels)
        step += 1
        bar.update(extra=f"step {step} loss {float(metrics['loss']):.3f}")
        if step % summary_every == 0 or step == num_training_steps:
            history = {k: float(v) for k, v in metrics.items() if k != "weight"}
            history["perplexity"] = float(np.exp(history.get("nll_per_step", history["loss"])))
            with writers["train"].as_default():
                for key, value in history.items():
                    tf.summary.scalar(key, value, step=step)
        if step % checkpoint_every == 0 or step == num_training_steps:
            checkpoints.save(step, model, optimizer)
        if eval_every and (step % eval_every == 0 or step == num_training_steps):
            results = evaluate()
            with writers["eval"].as_default():
                for key, value in results.items():
                    tf.summary.scalar(key[len("eval_"):], value, step=step)
            history.update(results)
    bar.finish()
    if not history and eval_every:  # resumed at its last step: still report where it is
        history.update(evaluate())
    history.update(step=step, seconds=round(time.monotonic() - started, 1))
    (run_dir / "metrics.json").write_text(json.dumps(history, indent=2))
    return history
