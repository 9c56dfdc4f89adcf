"""Teacher-forced training of sequence models on create_dataset folders, for every family.

Masked cross-entropy with Magenta's metrics (loss, perplexity, accuracy, event accuracy:
accuracy where the label is not "no event"), Adam with global-norm clipping, TensorBoard
summaries, and checkpoints written atomically so a run killed at any moment (kill -9
included) resumes from its last checkpoint with its step count intact.
"""
import json
import logging
import math
import pathlib
import time
import zipfile

import numpy as np

from musiczoo import bundles, checks, outputs
from musiczoo.pipelines.datasets import build as dataset_lib
from musiczoo.pipelines.datasets import tfrecord
from musiczoo.progress import Progress

log = logging.getLogger("musiczoo")
CHECKPOINT_PREFIX = "checkpoint-"
CHECKPOINT_VERSION = 2


def dataset_files(dataset_dir, kind=None):
    """{mode: path} of a create_dataset folder (training required, eval optional)."""
    folder = pathlib.Path(dataset_dir)
    if folder.is_file():  # Magenta's --sequence_example_file: one TFRecord of examples
        files = {"training": folder}
        sibling = folder.with_name(folder.name.replace("training_", "eval_", 1))
        if folder.name.startswith("training_") and sibling.is_file():
            files["eval"] = sibling
        return files, None
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


class RunDirError(ValueError):
    """A run folder that cannot be resumed by this run (another config, unusable
    checkpoints); the message says why and what to do."""


class Checkpoints:
    """Model + optimizer variables and the step, as one .npz per save (atomic rename).

    Version 2 (current) stores each variable under its name (`model/<path relative to the
    model>`, `optimizer/<path relative to the optimizer>`) and restores by name; version 1
    files (`model_0`, `opt_3`, ..., before issue 11) are migrated by position, which is
    what they meant, with every shape checked."""

    def __init__(self, run_dir, keep=3):
        self.dir = pathlib.Path(run_dir) / "checkpoints"
        self.keep = keep
        self.remove_partials()

    def remove_partials(self):
        """Deletes half-written saves a killed or disk-full run left behind: they hold
        space (a full disk stays full) and are never read."""
        if self.dir.is_dir():
            for path in self.dir.glob(f".{CHECKPOINT_PREFIX}*.partial"):
                path.unlink(missing_ok=True)

    def paths(self):
        found = []
        for path in self.dir.glob(f"{CHECKPOINT_PREFIX}*.npz"):
            try:
                found.append((int(path.stem[len(CHECKPOINT_PREFIX):]), path))
            except ValueError:
                continue
        return [p for _, p in sorted(found)]

    def save(self, step, model, optimizer):
        arrays = {f"model/{key}": np.asarray(v.numpy())
                  for key, v in bundles.variables_by_key(model).items()}
        arrays.update({f"optimizer/{key}": np.asarray(v.numpy())
                       for key, v in _optimizer_variables(optimizer).items()})
        arrays["checkpoint_version"] = np.int64(CHECKPOINT_VERSION)
        final = self.dir / f"{CHECKPOINT_PREFIX}{step}.npz"
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            with outputs.atomic_path(final, overwrite=True) as partial:
                with open(partial, "wb") as f:  # a file object: np.savez adds .npz to names
                    np.savez(f, step=np.int64(step), **arrays)
        except (OSError, outputs.OutputError) as error:
            previous = self.paths()
            resume = (f"; the run resumes from {previous[-1].name} once this is fixed"
                      if previous else "")
            detail = (outputs.describe_os_error(error) if isinstance(error, OSError)
                      else str(error).split(": ", 1)[-1])
            raise outputs.OutputError(final, f"checkpoint at step {step} was not written: "
                                             f"{detail}{resume}") from None
        for old in self.paths()[:-self.keep]:
            old.unlink(missing_ok=True)
        return final

    def restore(self, model, optimizer):
        """Loads the newest readable checkpoint into model and optimizer, all or nothing;
        returns its step (0 when there is none). A checkpoint that does not fit the model
        (another config) raises RunDirError instead of being skipped: starting over at
        step 0 would have the pruning delete every new checkpoint."""
        for path in reversed(self.paths()):
            try:
                with np.load(path) as data:
                    arrays = {key: data[key] for key in data.files}
            except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
                log.warning("ignoring unreadable checkpoint %s: %s", path, error)
                continue
            if "checkpoint_version" in arrays:
                self._assign_by_name(path, arrays, model, optimizer)
            else:
                self._assign_by_position(path, arrays, model, optimizer)
            return int(arrays["step"])
        return 0

    @staticmethod
    def _refuse(path, detail):
        raise RunDirError(f"{path} does not fit this model ({detail}): the run folder belongs "
                          "to another config; use a new --run_dir, or --overwrite to start "
                          "this one afresh")

    def _assign_by_name(self, path, arrays, model, optimizer):
        def refuse(detail):
            self._refuse(path, detail)

        if "step" not in arrays or int(arrays["checkpoint_version"]) != CHECKPOINT_VERSION:
            refuse(f"checkpoint version {arrays['checkpoint_version']}, this musiczoo "
                   f"writes {CHECKPOINT_VERSION}")
        pairs = [(f"model/{key}", v) for key, v in bundles.variables_by_key(model).items()]
        if any(key.startswith("optimizer/") for key in arrays):
            optimizer.build(model.trainable_variables)
            pairs += [(f"optimizer/{key}", v)
                      for key, v in _optimizer_variables(optimizer).items()]
        wanted = {key for key, _ in pairs}
        stored = {key for key in arrays if key.startswith(("model/", "optimizer/"))}
        if wanted != stored:
            missing, extra = sorted(wanted - stored), sorted(stored - wanted)
            refuse("; ".join(part for part in (
                missing and f"no array for {len(missing)} variable(s), e.g. {missing[0]!r}",
                extra and f"{len(extra)} array(s) no variable takes, e.g. {extra[0]!r}")
                if part))
        for key, variable in pairs:
            if tuple(arrays[key].shape) != tuple(variable.shape):
                refuse(f"{key} is {tuple(arrays[key].shape)}, the variable "
                       f"{tuple(variable.shape)}")
        for key, variable in pairs:  # every shape checked: all or nothing
            variable.assign(arrays[key])

    def _assign_by_position(self, path, arrays, model, optimizer):
        """Version 1 checkpoints (model_<i>, opt_<i>): the migration is their order."""
        def refuse(detail):
            self._refuse(path, detail)

        if "step" not in arrays:
            refuse("it has no step")
        weights = []
        for i, variable in enumerate(model.weights):
            value = arrays.get(f"model_{i}")
            if value is None or tuple(value.shape) != tuple(variable.shape):
                refuse(f"model variable {i} ({variable.path}) is {tuple(variable.shape)}, the "
                       f"checkpoint has {None if value is None else tuple(value.shape)}")
            weights.append(value)
        if f"model_{len(weights)}" in arrays:
            refuse(f"it holds more model variables than the model's {len(weights)}")
        slots = sorted((k for k in arrays if k.startswith("opt_")), key=lambda k: int(k[4:]))
        if slots:
            optimizer.build(model.trainable_variables)
            variables = optimizer.variables
            if len(slots) != len(variables):
                refuse(f"{len(slots)} optimizer variables, the optimizer has {len(variables)}")
            for variable, key in zip(variables, slots):
                if tuple(arrays[key].shape) != tuple(variable.shape):
                    refuse(f"optimizer variable {key} is {tuple(arrays[key].shape)}, the "
                           f"optimizer expects {tuple(variable.shape)}")
        # Every shape checked: only now assign, so a refusal leaves nothing half-restored.
        model.set_weights(weights)
        if slots:
            for variable, key in zip(optimizer.variables, slots):
                variable.assign(arrays[key])


def _optimizer_variables(optimizer):
    """{path relative to the optimizer: variable} (its slots are named after the model's
    variables, so the names say which variable a slot belongs to)."""
    prefix = f"{optimizer.name}/"
    found = {}
    for variable in optimizer.variables:
        key = variable.path[len(prefix):] if variable.path.startswith(prefix) else variable.path
        if key in found:
            raise ValueError(f"two optimizer variables are both named {key!r}")
        found[key] = variable
    return found


RUN_FILE = "run.json"
# Fields that may change between the sessions of one run (they shape no variable).
_RESUMABLE_FIELDS = ("description", "batch_size")


def claim_run_dir(run_dir, identity, overwrite=False):
    """Makes `run_dir` this run's: records `identity` (family, config, codec) in run.json on
    first use, and refuses a folder recorded for something else, naming the difference.
    With `overwrite`, an existing run's checkpoints, logs and records are removed first."""
    run_dir = outputs.output_dir(run_dir)
    record = run_dir / RUN_FILE
    if overwrite:
        _clear_run(run_dir)
    elif record.exists():
        try:
            previous = json.loads(record.read_text())
        except (OSError, ValueError) as error:
            raise RunDirError(f"{record} is unreadable ({error}); use a new --run_dir or "
                              "--overwrite") from None
        difference = _difference(previous, identity)
        if difference:
            raise RunDirError(f"{run_dir} holds a run of another config ({difference}); use "
                              "a new --run_dir, or --overwrite to start it afresh")
    if identity is not None:
        outputs.write_text(record, json.dumps(identity, indent=2) + "\n", overwrite=True)
    return run_dir


def _difference(previous, identity):
    if not isinstance(previous, dict) or identity is None:
        return ""
    for key in ("family", "codec"):
        if previous.get(key) != identity.get(key):
            return f"{key} {previous.get(key)!r} there, {identity.get(key)!r} here"
    old, new = previous.get("config") or {}, identity.get("config") or {}
    changed = [k for k in sorted(set(old) | set(new))
               if k not in _RESUMABLE_FIELDS and old.get(k) != new.get(k)]
    return ", ".join(f"{k}={old.get(k)!r} there, {new.get(k)!r} here" for k in changed[:4])


def _clear_run(run_dir):
    folder = pathlib.Path(run_dir)
    for pattern in (f"checkpoints/{CHECKPOINT_PREFIX}*.npz", f"checkpoints/.{CHECKPOINT_PREFIX}*",
                    "train/events.out.tfevents.*", "eval/events.out.tfevents.*",
                    RUN_FILE, "metrics.json"):
        for path in folder.glob(pattern):
            if path.is_file():
                path.unlink()


def dataset_examples(files, info):
    """Training examples in a dataset folder, refusing an empty one before any model
    is built."""
    examples = (info or {}).get("examples") or {}
    count = examples.get("training") if isinstance(examples, dict) else None
    if count is None:  # a Magenta folder: is there at least one record?
        import tensorflow as tf
        try:
            count = sum(1 for _ in tf.data.TFRecordDataset(str(files["training"])).take(1))
        except tf.errors.OpError as error:
            raise ValueError(f"{files['training']}: unreadable ({error.message})") from None
    if not count:
        raise ValueError(f"{files['training']}: 0 training examples; rebuild the dataset "
                         "(musiczoo_create_dataset says why nothing was kept)")
    return count


def example_input_width(path):
    """Inputs per step of the first SequenceExample in a TFRecord (None if it has none)."""
    import tensorflow as tf
    try:
        for record in tf.data.TFRecordDataset(str(path)).take(1):
            example = tf.train.SequenceExample.FromString(record.numpy())
            steps = example.feature_lists.feature_list["inputs"].feature
            return len(steps[0].float_list.value) if len(steps) else None
    except (tf.errors.OpError, ValueError) as error:
        raise ValueError(f"{path}: not a TFRecord of SequenceExamples "
                         f"({getattr(error, 'message', error)})") from None
    return None


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
            "weight": count,
            # what event_accuracy averages over, when replicas' values are combined
            "event_accuracy_weight": tf.reduce_sum(events)}


def train_model(model, dataset_dir, run_dir, *, input_size, no_event_id, batch_size,
                learning_rate, clip_norm, num_training_steps, eval_every=200, checkpoint_every=100,
                summary_every=20, seed=None, progress=True, max_length=None, metrics_fn=None,
                shuffle_buffer=2048, eval_max_length=None, crop_align=1, crop_start_input=None,
                identity=None, overwrite=False):
    """Trains `model` (inputs [B, T, D] -> logits) to `num_training_steps` total steps,
    resuming from `run_dir` if it holds checkpoints. Returns the final metrics dict.

    `learning_rate` may be a Keras LearningRateSchedule. `metrics_fn(inputs, lengths,
    labels, training, step)` replaces the next-event cross-entropy for models with their own
    objective (MusicVAE); it returns a dict with at least "loss" (minimised) and "weight"
    (what eval averages over), plus "nll_per_step" when perplexity should be reported.
    `eval_max_length` cuts eval examples into consecutive chunks of that many steps (all
    of every example is scored, at most that much at a time). `crop_align` and
    `crop_start_input` shape the windows (see tfrecord.make_input_fn). `identity` (family,
    config, codec) is recorded in run_dir/run.json: a run folder of another config is
    refused (RunDirError) unless `overwrite`, which starts it afresh."""
    import keras
    import tensorflow as tf

    from musiczoo import distribute
    dist = distribute.active()  # a tf.distribute strategy in use (None: one device)
    num_training_steps, eval_every, checkpoint_every, batch_size, max_length = \
        check_training_options(num_training_steps, eval_every, checkpoint_every, batch_size,
                               max_length)
    files, info = dataset_files(dataset_dir)
    dataset_examples(files, info)
    # Named: its variables' paths start with the optimizer's name, and an unnamed one's
    # depends on how many were made before in the process (adam, adam_1, ...).
    adam = distribute.optimizer_class() if dist else keras.optimizers.Adam
    optimizer = adam(learning_rate, global_clipnorm=clip_norm or None, name="adam")

    def claim_and_restore():
        folder = claim_run_dir(run_dir, identity, overwrite)
        saved = Checkpoints(folder)
        return folder, saved, saved.restore(model, optimizer)

    if dist is None:
        run_dir, checkpoints, step = claim_and_restore()
    else:
        # Making a variable is a collective under a multi-worker strategy: every worker
        # builds the optimizer's slots now, alike, not only the one with a checkpoint.
        optimizer.build(model.trainable_variables)
        run_dir, checkpoints, step = dist.together(claim_and_restore)
        step, seed = dist.start(model, optimizer, step, seed, settings=[  # the chief's
            identity, num_training_steps, batch_size, max_length, eval_every,
            summary_every, (info or {}).get("examples")])
        progress = progress and dist.is_chief
    if step:
        log.info("resuming %s from step %d", run_dir if dist is None or dist.is_chief
                 else "the chief's run", step)
    eval_count = ((info or {}).get("examples") or {}).get("eval")
    if eval_count == 0 or ("eval" in files and not files["eval"].stat().st_size):
        files.pop("eval", None)
    if "eval" not in files:
        log.warning("%s has no eval examples: training without evaluation", dataset_dir)
    train_set = tfrecord.make_input_fn(files["training"], input_size, batch_size,
                                       shuffle=True, repeat=True, seed=seed,
                                       max_length=max_length, shuffle_buffer=shuffle_buffer,
                                       crop_align=crop_align,
                                       crop_start_input=crop_start_input)
    eval_set = tfrecord.make_input_fn(
        files["eval"], input_size, batch_size, shuffle=False, max_length=eval_max_length,
        chunks=bool(eval_max_length), crop_start_input=crop_start_input) \
        if "eval" in files else None
    writers = {mode: tf.summary.create_file_writer(str(run_dir / mode)) for mode in ("train", "eval")}

    if metrics_fn is None:
        def metrics_fn(inputs, lengths, labels, training, step):
            return masked_metrics(tf, model(inputs, training=training), labels, lengths,
                                   no_event_id)

    @tf.function(reduce_retracing=True)
    def local_train_step(inputs, lengths, labels):
        with tf.GradientTape() as tape:
            metrics = metrics_fn(inputs, lengths, labels, True, optimizer.iterations)
        grads = tape.gradient(metrics["loss"], model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return metrics

    @tf.function(reduce_retracing=True)
    def local_eval_step(inputs, lengths, labels):
        return metrics_fn(inputs, lengths, labels, False, optimizer.iterations)

    if dist is None:
        def train_step(batch):
            (inputs, lengths), labels = batch
            return local_train_step(inputs, lengths, labels)

        def eval_step(batch):
            (inputs, lengths), labels = batch
            return local_eval_step(inputs, lengths, labels)
    else:  # each replica its slice of every global batch; metrics reduced over all
        train_set = dist.distribute_data(train_set)
        train_step = dist.train_step(model, optimizer, metrics_fn, train_set.element_spec)
        if eval_set is not None:
            eval_set = dist.distribute_data(eval_set)
            eval_step = dist.eval_step(metrics_fn, optimizer, eval_set.element_spec)
    train_data = iter(train_set)

    def evaluate():
        if eval_set is None:
            return {}
        totals, weight = {}, 0.0
        for batch in eval_set:
            metrics = eval_step(batch)
            w = float(metrics["weight"])
            for key, value in metrics.items():
                if not distribute.is_weight(key):
                    totals[key] = totals.get(key, 0.0) + float(value) * w
            weight += w
        if not weight:  # an eval file with no examples in it
            return {}
        result = {f"eval_{k}": v / weight for k, v in totals.items()}
        result["eval_perplexity"] = float(np.exp(result.get("eval_nll_per_step",
                                                            result["eval_loss"])))
        return result

    bar = Progress("training", total=num_training_steps - step, unit="steps", enabled=progress)
    history = {}
    started = time.monotonic()
    try:
        while step < num_training_steps:
            metrics = train_step(next(train_data))
            step += 1
            loss = float(metrics["loss"])
            if not math.isfinite(loss):
                kept = checkpoints.paths()
                newest = f" (the newest checkpoint is {kept[-1].name})" if kept else ""
                raise TrainingError(
                    f"training diverged: the loss is {loss} at step {step}; nothing from "
                    f"this step was saved{newest}. Lower the learning rate "
                    "(--hparams=learning_rate=...) or clip_norm")
            bar.update(extra=f"step {step} loss {loss:.3f}")
            if step % summary_every == 0 or step == num_training_steps:
                history = {k: float(v) for k, v in metrics.items()
                           if not distribute.is_weight(k)}
                history["perplexity"] = float(np.exp(history.get("nll_per_step",
                                                                 history["loss"])))
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
    finally:  # the event files stay open (and their folder busy) until closed
        for writer in writers.values():
            writer.close()
    bar.finish()
    if not history and eval_every:  # resumed at its last step: still report where it is
        history.update(evaluate())
    history.update(step=step, seconds=round(time.monotonic() - started, 1))
    if dist is not None:
        dist.finish(model, step)
    outputs.write_text(run_dir / "metrics.json", json.dumps(history, indent=2), overwrite=True)
    return history


class TrainingError(ValueError):
    """Training cannot go on (the loss diverged); the message says what to change."""


def check_training_options(num_training_steps, eval_every, checkpoint_every, batch_size,
                           max_length):
    """The numeric training flags, checked before anything is built."""
    return (checks.integer("num_training_steps", num_training_steps, 1),
            checks.integer("eval_every", eval_every, 0),
            checks.integer("checkpoint_every", checkpoint_every, 1),
            checks.integer("batch_size", batch_size, 1),
            checks.optional_integer("max_length", max_length, 2))
