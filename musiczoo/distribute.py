"""Training on several devices or machines through tf.distribute, for every family.

`default`: no strategy, the one-device loop as it always was. `mirrored`: one process,
every GPU of this machine (tf.distribute.MirroredStrategy; on a machine without GPUs, its
CPU devices, normally one). `multi_worker`: one process per machine
(tf.distribute.MultiWorkerMirroredStrategy), the cluster and this process's task read from
the TF_CONFIG environment variable, as on any TensorFlow cluster.

The batch size is the global batch: each step every replica gets its slice of the same
batch one device would have trained on (every worker builds the same seeded input
pipeline and keeps its part, tf.data's DATA auto-sharding), and the loss is reduced so
that it is the single-device value: per-token losses summed over all replicas, divided
by the global count of tokens.

Only the chief (task "chief", or "worker" 0 when there is none) writes into the run
folder. Every other worker writes into a temporary folder of its own, deleted when it
stops, and starts from the chief's state: the chief restores the run folder's newest
checkpoint and broadcasts step, seed and every variable, so the run folder needs to be
readable by the chief only.
"""
import contextlib
import dataclasses
import difflib
import hashlib
import json
import logging
import os
import pathlib
import shutil
import tempfile

STRATEGIES = ("default", "mirrored", "multi_worker")
TF_CONFIG = "TF_CONFIG"
# Set to a folder: every worker writes <task>-<index>.json there at the end (the step and
# a sha256 of its weights), so a test or a user can check that all workers agree.
DIGEST_DIR = "MUSICZOO_WEIGHT_DIGEST_DIR"
JOBS = ("chief", "worker")
EXAMPLE = ('TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
           '"task": {"type": "worker", "index": 0}}\'')

log = logging.getLogger("musiczoo")


class DistributeError(ValueError):
    """A strategy or cluster that cannot be used; the message says what to change."""


def check_strategy(name):
    """`name` if it is a strategy musiczoo knows; DistributeError otherwise."""
    if name in STRATEGIES:
        return name
    close = difflib.get_close_matches(str(name), STRATEGIES, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise DistributeError(f"unknown --strategy {name!r}{hint}: use one of "
                          f"{', '.join(STRATEGIES)}")


def read_tf_config(text):
    """The cluster of a TF_CONFIG value, checked: {"cluster": {job: [address]},
    "task_type", "task_id", "num_workers", "is_chief"}. Raises DistributeError naming
    what is wrong, with an example."""
    def refuse(problem):
        raise DistributeError(f"TF_CONFIG {problem}; it is one JSON object per worker, e.g. "
                              f"{EXAMPLE}")

    if text is None or not text.strip():
        raise DistributeError("--strategy=multi_worker reads the cluster from the TF_CONFIG "
                              "environment variable, which is not set: set it for every "
                              f"worker, e.g. {EXAMPLE} (BUILD.md, Multi-worker training)")
    try:
        config = json.loads(text)
    except ValueError as error:
        refuse(f"is not JSON ({getattr(error, 'msg', error)} at character "
               f"{getattr(error, 'pos', '?')})")
    if not isinstance(config, dict):
        refuse(f"is a JSON {type(config).__name__}, not an object")
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not cluster:
        refuse('has no "cluster" (an object: job name -> list of "host:port")')
    jobs = {}
    seen = set()
    for job, addresses in cluster.items():
        if job not in JOBS:
            refuse(f"has a {job!r} job: multi-worker training takes {' and '.join(JOBS)} "
                   "tasks only (no parameter servers or evaluators)")
        if isinstance(addresses, str):
            addresses = [addresses]
        if not isinstance(addresses, list) or not addresses:
            refuse(f'job {job!r} is not a list of "host:port" addresses')
        for address in addresses:
            host, _, port = address.rpartition(":") if isinstance(address, str) else ("", "", "")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                refuse(f'job {job!r} has the address {address!r}, not "host:port"')
            if address in seen:
                refuse(f"lists {address!r} twice")
            seen.add(address)
        jobs[job] = addresses
    if len(jobs.get("chief", [])) > 1:
        refuse("has more than one chief")
    if not isinstance(task, dict):
        refuse('has no "task" (this worker\'s {"type": ..., "index": ...})')
    task_type, task_id = task.get("type"), task.get("index", 0)
    if task_type not in jobs:
        refuse(f"task type {task_type!r} is not a job of its cluster "
               f"({', '.join(sorted(jobs))})")
    if isinstance(task_id, bool) or not isinstance(task_id, int) or \
            not 0 <= task_id < len(jobs[task_type]):
        refuse(f"task index {task_id!r} is not one of the {len(jobs[task_type])} "
               f"{task_type} task(s) (0..{len(jobs[task_type]) - 1})")
    return {"cluster": jobs, "task_type": task_type, "task_id": task_id,
            "num_workers": sum(len(a) for a in jobs.values()),
            "is_chief": task_type == "chief" or ("chief" not in jobs and task_id == 0)}


def check(name, environ=None):
    """Checks a strategy name and, for multi_worker, TF_CONFIG, before anything is built;
    returns the cluster (None unless multi_worker)."""
    environ = os.environ if environ is None else environ
    check_strategy(name)
    if name == "multi_worker":
        return read_tf_config(environ.get(TF_CONFIG))
    if environ.get(TF_CONFIG):
        log.warning("TF_CONFIG is set, but --strategy=%s trains on this machine alone "
                    "(--strategy=multi_worker trains on its cluster)", name)
    return None


@dataclasses.dataclass
class Distribution:
    """A strategy in use, with this process's place in the cluster. `write_dir` is where
    this process writes (the run folder on the chief, a temporary folder elsewhere)."""
    name: str
    strategy: object
    task_type: str = "chief"
    task_id: int = 0
    num_workers: int = 1
    is_chief: bool = True
    write_dir: pathlib.Path = None

    @property
    def num_replicas(self):
        return self.strategy.num_replicas_in_sync

    @property
    def task(self):
        return f"{self.task_type} {self.task_id}"

    # -- agreement between workers --------------------------------------------------------

    def together(self, setup):
        """Runs `setup()` (claiming the run folder, restoring its checkpoint) on every
        worker; when it fails on one, every worker stops (instead of the others waiting
        for it at the next collective)."""
        import tensorflow as tf
        try:
            result, error = setup(), None
        except Exception as failure:  # re-raised below, after the others are told
            result, error = None, failure
        failed = self._sum_first(tf.constant([0.0 if error is None else 1.0], tf.float64),
                                 every_replica=True)
        if error is not None:
            raise error
        if float(failed[0]):
            raise DistributeError(f"{self.task}: another worker could not start this run "
                                  "(its own output says why)")
        return result

    def from_chief(self, values):
        """The chief's numbers (a list of ints/floats) on every worker."""
        import tensorflow as tf
        return [float(v) for v in self._sum_first(tf.constant(values, tf.float64))]

    def _sum_first(self, value, every_replica=False):
        """The sum over replicas of `value` (every replica's own, or only replica 0's)."""
        import tensorflow as tf

        def share():
            ctx = tf.distribute.get_replica_context()
            keep = value if every_replica else value * tf.cast(
                tf.equal(ctx.replica_id_in_sync_group, 0), value.dtype)
            return ctx.all_reduce(tf.distribute.ReduceOp.SUM, keep)

        return self.strategy.experimental_local_results(self.strategy.run(share))[0].numpy()

    def broadcast(self, variables):
        """Every variable set to its value on the chief (replica 0)."""
        import tensorflow as tf

        def share():
            ctx = tf.distribute.get_replica_context()
            first = tf.equal(ctx.replica_id_in_sync_group, 0)
            return ctx.all_reduce(tf.distribute.ReduceOp.SUM, [
                tf.convert_to_tensor(v) * tf.cast(first, v.dtype) for v in variables])

        values = self.strategy.experimental_local_results(self.strategy.run(share))[0]
        for variable, value in zip(variables, values):
            variable.assign(value)

    def start(self, model, optimizer, step, seed, settings=None):
        """(step, seed) of the chief, with its weights and optimizer state on every
        worker. A run without a seed gets the chief's random one: every worker must
        shuffle alike for its slice of each batch to be its own. `settings` (JSON data:
        config, steps, batch size, ...) must be the same on every worker."""
        if self.num_workers == 1:
            return step, seed
        if seed is None:
            seed = int.from_bytes(os.urandom(4), "little") >> 1
        # 48 bits of a hash: exact in the float64 the collective carries
        mine = int(hashlib.sha256(json.dumps(settings, sort_keys=True, default=str)
                                  .encode()).hexdigest()[:12], 16)
        step, seed, chief = (int(v) for v in self.from_chief([step, seed, mine]))
        import tensorflow as tf
        differ = self._sum_first(tf.constant([float(mine != chief)], tf.float64),
                                 every_replica=True)
        if float(differ[0]):
            raise DistributeError(
                f"{self.task}: {'this worker was' if mine != chief else 'the workers were'} "
                "started with other settings than the chief (config, hparams, steps, "
                "eval_every, max_length or dataset): start every worker with the same "
                "command line")
        self.broadcast(list(model.weights) + list(optimizer.variables))
        return step, seed

    # -- the step functions -------------------------------------------------------------

    def distribute_data(self, dataset):
        """`dataset` (global batches) split into each replica's slice of every batch."""
        import tensorflow as tf
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = \
            tf.data.experimental.AutoShardPolicy.DATA
        return self.strategy.experimental_distribute_dataset(dataset.with_options(options))

    def train_step(self, model, optimizer, metrics_fn, element_spec):
        """A compiled step (one global batch -> metrics of the global batch) that runs
        `metrics_fn` on every replica's slice, sums gradients over all replicas and
        applies them once (clipping the global gradient, as one device does)."""
        import tensorflow as tf

        def replica_step(batch):
            (inputs, lengths), labels = batch
            ctx = tf.distribute.get_replica_context()
            with tf.GradientTape() as tape:
                metrics = metrics_fn(inputs, lengths, labels, True, optimizer.iterations)
                reduced = _reduced(ctx, metrics, lengths)
                # This slice's share of the global mean: the sum over replicas is the loss
                # of the whole batch on one device.
                share = metrics["loss"] * _weight(metrics, lengths) / reduced["weight"]
            variables = model.trainable_variables
            grads = tape.gradient(share, variables)
            present = [i for i, g in enumerate(grads) if g is not None]
            summed = ctx.all_reduce(tf.distribute.ReduceOp.SUM, [grads[i] for i in present])
            for i, g in zip(present, summed):
                grads[i] = g
            optimizer.apply_gradients([(g, v) for g, v in zip(grads, variables)
                                       if g is not None])
            return reduced

        @tf.function(input_signature=[element_spec])
        def step(batch):
            result = self.strategy.run(replica_step, args=(batch,))
            return self.strategy.experimental_local_results(result)[0]
        return step

    def eval_step(self, metrics_fn, optimizer, element_spec):
        """A compiled eval step: the global batch's metrics, weighted as one device's."""
        import tensorflow as tf

        def replica_step(batch):
            (inputs, lengths), labels = batch
            metrics = metrics_fn(inputs, lengths, labels, False, optimizer.iterations)
            return _reduced(tf.distribute.get_replica_context(), metrics, lengths)

        @tf.function(input_signature=[element_spec])
        def step(batch):
            result = self.strategy.run(replica_step, args=(batch,))
            return self.strategy.experimental_local_results(result)[0]
        return step

    def finish(self, model, step):
        """Logs (and with MUSICZOO_WEIGHT_DIGEST_DIR, writes) this worker's weight digest,
        which every worker of a healthy run shares."""
        digest = weight_digest(model)
        log.info("%s: step %d, weights sha256 %s", self.task, step, digest[:16])
        folder = os.environ.get(DIGEST_DIR)
        if folder:
            path = pathlib.Path(folder) / f"{self.task_type}-{self.task_id}.json"
            path.write_text(json.dumps({"task": self.task, "step": step, "sha256": digest,
                                        "replicas": self.num_replicas}))


def _present(weight, lengths):
    """A replica's weight, 0 for an empty slice (the last, partial batch of an eval set
    leaves some replicas nothing)."""
    import tensorflow as tf
    weight = tf.cast(weight, tf.float32)
    return tf.where(tf.shape(lengths)[0] > 0, weight, tf.zeros_like(weight))


def is_weight(key):
    """Whether a metrics_fn key is a weight ("weight": what every metric averages over;
    "<metric>_weight": that metric's own), not a metric."""
    return key == "weight" or key.endswith("_weight")


def _weight(metrics, lengths):
    return _present(metrics["weight"], lengths)


def _reduced(ctx, metrics, lengths):
    """Every metric as its weighted mean over all replicas (by its own "<name>_weight"
    where the metrics_fn gives one, else by "weight"): the value one device computes
    for the whole batch. One all-reduce; "weight" is the global one."""
    import tensorflow as tf

    names = sorted(k for k in metrics if not is_weight(k))
    weights = [_present(metrics.get(f"{k}_weight", metrics["weight"]), lengths)
               for k in names] + [_weight(metrics, lengths)]
    parts = [tf.cast(metrics[k], tf.float32) * w for k, w in zip(names, weights)]
    totals = ctx.all_reduce(tf.distribute.ReduceOp.SUM,
                            tf.stop_gradient(tf.stack(parts + weights)))
    reduced = {k: tf.math.divide_no_nan(totals[i], totals[len(names) + i])
               for i, k in enumerate(names)}
    reduced["weight"] = totals[-1]
    return reduced


def weight_digest(model):
    """sha256 over every variable of `model` (its key and its bytes, in key order)."""
    import numpy as np

    from musiczoo import bundles
    digest = hashlib.sha256()
    for key, variable in sorted(bundles.variables_by_key(model).items()):
        digest.update(key.encode())
        digest.update(np.ascontiguousarray(variable.numpy()).tobytes())
    return digest.hexdigest()


def optimizer_class():
    """Adam whose gradients arrive already summed over replicas. Keras 3 clips each
    replica's gradient and only then sums them (so global_clipnorm would clip the parts,
    not the whole); the train step sums first, and this optimizer skips Keras's sum."""
    import keras

    if not hasattr(keras.optimizers.Adam, "_all_reduce_sum_gradients"):
        raise RuntimeError("this Keras has no Optimizer._all_reduce_sum_gradients: "
                           "musiczoo's distributed step needs updating for it")

    class SummedAdam(keras.optimizers.Adam):
        def _all_reduce_sum_gradients(self, grads_and_vars):
            return list(grads_and_vars)

    return SummedAdam


_prepared = {}


def prepare(name, threads=None):
    """Checks `name` (and TF_CONFIG) and, for multi_worker, makes the strategy now:
    tf.distribute configures collective ops only before TensorFlow's first op, so a
    program calls this at its start (musiczoo_train does, before anything else runs).
    TF's thread pools are pinned first (runtime.configure_threads), for the same reason."""
    cluster = check(name)
    if name != "multi_worker" or name in _prepared:
        return
    from musiczoo import runtime
    runtime.quiet_tensorflow()
    with runtime.stderr_filtered():
        import tensorflow  # noqa: F401  (its start-up noise filtered)
        runtime.configure_threads(threads)
    _prepared[name] = (_strategy(name, cluster), cluster)


def _strategy(name, cluster):
    import tensorflow as tf
    if name == "mirrored":
        devices = (tf.config.list_logical_devices("GPU")
                   or tf.config.list_logical_devices("CPU"))
        return tf.distribute.MirroredStrategy(devices=[d.name for d in devices])
    # The strategy reads TF_CONFIG itself (read_tf_config checked it); it starts this
    # worker's gRPC server and waits until every worker of the cluster is up.
    log.info("%s %d of %d: waiting for the cluster %s", cluster["task_type"],
             cluster["task_id"], cluster["num_workers"], json.dumps(cluster["cluster"]))
    try:
        with _without_startup_warning():
            return tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as error:
        if "program startup" not in str(error):
            raise
        raise DistributeError("--strategy=multi_worker must be set up before TensorFlow "
                              "runs its first op: call musiczoo.distribute.prepare("
                              "'multi_worker') at the start of the program (musiczoo_train "
                              "does)") from None


@contextlib.contextmanager
def _without_startup_warning():
    """TF warns that collective ops enabled after start-up may break tensors made
    before; the only ones (runtime.start_tensorflow's probe) are long gone."""
    import tensorflow as tf

    def keep(record):
        return "Enabling collective ops after program startup" not in record.getMessage()
    logger = tf.get_logger()
    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


_active = None


def active():
    """The Distribution of the training under way (None: the default, one device)."""
    return _active


@contextlib.contextmanager
def distributed(name, run_dir):
    """Inside: the strategy `name` in scope (build the model here) and the Distribution
    (None for "default"), whose write_dir is where this process writes."""
    global _active
    if name in _prepared:
        strategy, cluster = _prepared[name]
    else:
        cluster = check(name)
        if name == "default":
            yield None
            return
        strategy = _strategy(name, cluster)
    import tensorflow as tf
    cluster = cluster or {"task_type": "chief", "task_id": 0, "num_workers": 1,
                          "is_chief": True}
    temporary = None
    if cluster["is_chief"]:
        write_dir = pathlib.Path(run_dir)
    else:  # its files must exist (every worker saves alike) but go nowhere
        temporary = write_dir = pathlib.Path(tempfile.mkdtemp(
            prefix=f"musiczoo-{cluster['task_type']}{cluster['task_id']}-"))
    dist = Distribution(name, strategy, cluster["task_type"], cluster["task_id"],
                        cluster["num_workers"], cluster["is_chief"], write_dir)
    log.info("--strategy=%s: %d replica(s) on %d worker(s); this is %s%s", name,
             dist.num_replicas, dist.num_workers, dist.task,
             " (the chief)" if dist.is_chief else f", writing into {write_dir}, deleted after")
    _active = dist
    try:
        with strategy.scope():
            yield dist
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
            tf.errors.CancelledError, tf.errors.AbortedError) as error:
        first = (error.message or str(error)).strip().splitlines()[0][:300]
        raise DistributeError(f"{dist.task} lost the cluster ({first}); start every worker "
                              "again: the run resumes from the chief's last checkpoint") \
            from None
    finally:
        _active = None
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
