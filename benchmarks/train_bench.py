"""Training speed: each family's FLOP rate on its real training step against a matmul peak
measured in the same run.

Peak: a chain of large fp32 matmuls ([N, N] x [N, N], N = --peak_size) inside one
tf.function, with the same thread settings as the families. Families: the registered
configs named by --configs, each built as `musiczoo_train` builds it (the family's
`from_config`, its `training_options`: metrics_fn, learning-rate schedule, clipping), and
trained by the step musiczoo/training.py compiles (`train_model`'s train_step: a
tf.function(reduce_retracing=True) around the metrics under a GradientTape, then Adam
with global-norm clipping; the loss read back every step, as training does). Batches
are synthetic token batches of the config's shapes (training speed does not depend on
their content): events RNN [batch_size, --rnn_length] codec inputs of random melodies,
MusicVAE [batch_size, window] ids, Music Transformer [batch_size, max_length] tokens.

FLOPs per step are counted analytically: 2*m*n*k per matmul (every dense layer,
recurrent kernel, attention product; element-wise work, softmaxes and norms not
counted), forward and backward ~= 3x forward, every position of the batch counted
(the synthetic batches have no padding). The count is the model's work, the same for
every implementation (as MFU counts it): attention terms included, the attention RNN's
query, scores and read-out over its window each step and one key per output (the
per-step cell recomputes the keys of all attn_length outputs of the window every step:
that extra work is not counted, it is what the fast path removes); the transformer's
Q K^T, Q E^T (the skewed relative logits, [L, L + 1] per head) and weights x V over the
full [L, L] products, as a dense implementation computes them (the causal half is not
taken off). See `forward_flops_per_token`.

Alternating repeats (peak, then each family in turn), best time of each; tracing and
the first steps excluded. `--jit_compile=CONFIGS` also times those configs with the step compiled by XLA
(jit_compile=True), which training.py does not do today. The last line printed is one
JSON object.

    python benchmarks/train_bench.py [--configs=basic_rnn,attention_rnn,...] [--repeats=3]
"""
import argparse
import json
import math
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

DEFAULT_CONFIGS = "basic_rnn,attention_rnn,cat-mel_2bar_small,chorale_transformer"


# -- analytic FLOPs ------------------------------------------------------------------------

def _cell_flops(cell_type, width, units):
    """Forward matmul FLOPs per step of one recurrent cell: [x, h] times the gate kernels."""
    gates = 3 if cell_type == "gru" else 4
    return 2 * (width + units) * gates * units


def _stack_flops(cell_type, width, sizes):
    total = 0
    for units in sizes:
        total += _cell_flops(cell_type, width, units)
        width = units
    return total


def _state_width(cell_type, sizes):
    return sum(sizes) * (1 if cell_type == "gru" else 2)


def events_rnn_flops(config, codec):
    """Per token: the stacked cells, the logits, and with attention (Magenta's
    AttentionCellWrapper) its input projection, query, the key of the new output (once:
    a key does not change while its output stays in the window), scores v . tanh(.) and
    the weighted read-out over the window, and the output projection."""
    sizes, size, cell = config.layer_sizes, config.layer_sizes[-1], config.cell_type
    width, n = codec.input_size, config.attn_length
    flops = _stack_flops(cell, width, sizes) + 2 * size * codec.num_classes
    if n:
        flops += 2 * (width + size) * width              # input projection
        flops += 2 * _state_width(cell, sizes) * size    # query
        flops += 2 * size * size                         # key of the new output
        flops += 2 * n * size + 2 * n * size             # scores (v . tanh) + read-out
        flops += 2 * (2 * size) * size                   # output projection
    return flops


def music_vae_flops(config, codec):
    """Per token: the bidirectional encoder (both directions, every layer), the decoder
    cells (input: previous event + z, or the conductor's embedding) and logits; per window
    (spread over its tokens): mu and sigma, the decoder's (and conductor's) initial
    states, the conductor's steps."""
    cell, classes, steps = config.cell_type, codec.num_classes, config.max_seq_len
    enc_in = 10 if config.representation == "drums" else classes
    flops, width = 0, enc_in
    for units in config.enc_rnn_size:
        flops += 2 * _cell_flops(cell, width, units)
        width = 2 * units
    condition = config.conductor_rnn_size[-1] if config.hierarchical else config.z_size
    flops += _stack_flops(cell, classes + condition, config.dec_rnn_size)
    flops += 2 * config.dec_rnn_size[-1] * classes
    per_window = 2 * 2 * width * config.z_size           # mu, sigma
    segments = config.slice_bars if config.hierarchical else 1
    per_window += segments * 2 * condition * _state_width(cell, config.dec_rnn_size)
    if config.hierarchical:
        per_window += 2 * config.z_size * _state_width(cell, config.conductor_rnn_size)
        per_window += segments * _stack_flops(cell, 1, config.conductor_rnn_size)
    return flops + per_window / steps


def transformer_flops(config, codec):
    """Per token, per layer: qkv (d x 3d), output (d x d), feed-forward (d x ff x 2), and
    attention against all L positions as computed: Q K^T (L x d), Q E^T (L + 1 x d, the
    skew's padded product), weights x V (L x d); then the logits."""
    d, length = config.d_model, config.max_length
    layer = 2 * d * 3 * d + 2 * d * d + 2 * 2 * d * config.ff_size
    layer += 2 * length * d + 2 * (length + 1) * d + 2 * length * d
    return config.num_layers * layer + 2 * d * codec.num_classes


def forward_flops_per_token(family, config, codec):
    if family in ("melody_rnn", "drums_rnn", "performance_rnn"):
        return events_rnn_flops(config, codec)
    if family == "music_vae":
        return music_vae_flops(config, codec)
    if family == "music_transformer":
        return transformer_flops(config, codec)
    raise ValueError(f"no FLOP count for the {family} family")


# -- synthetic batches ---------------------------------------------------------------------

def synthetic_batch(family, config, codec, rnn_length, rng):
    """((inputs, lengths), labels) as the family's tf.data pipeline gives them."""
    import numpy as np
    import tensorflow as tf
    batch = config.batch_size
    if family == "music_transformer":
        length = config.max_length
        tokens = rng.integers(0, codec.num_classes, (batch, length + 1))
        tokens[:, 0] = codec.start_id
        inputs, labels = tokens[:, :-1, None].astype(np.float32), tokens[:, 1:]
    elif family == "music_vae":
        length = config.max_seq_len
        labels = rng.integers(0, codec.num_classes, (batch, length))
        inputs = labels[..., None].astype(np.float32)
    else:  # events RNN: a random melody per row through the codec
        length = rnn_length
        choices = np.array([-2, -1] + list(range(config.min_note, config.max_note)))
        rows_in, rows_out = [], []
        for _ in range(batch):
            ids = codec.events_to_ids(rng.choice(choices, length + 1))
            rows_in.append(codec.inputs_from_ids(ids)[:-1])
            rows_out.append(codec.labels_from_ids(ids))
        inputs, labels = np.stack(rows_in).astype(np.float32), np.stack(rows_out)
    return ((tf.constant(inputs), tf.fill([batch], tf.constant(length, tf.int32))),
            tf.constant(labels, tf.int64)), batch * length


# -- the training step ---------------------------------------------------------------------

def make_train_step(model, options, jit_compile=False):
    """train_model's step (musiczoo/training.py), with the family's options
    (`jit_compile`: the same step compiled by XLA, a proposal training.py does not make)."""
    import keras
    import tensorflow as tf

    from musiczoo.training import masked_metrics
    network = model.model
    optimizer = keras.optimizers.Adam(options["learning_rate"],
                                      global_clipnorm=options["clip_norm"] or None,
                                      name="adam")
    metrics_fn = options.get("metrics_fn")
    if metrics_fn is None:
        no_event_id = options["no_event_id"]

        def metrics_fn(inputs, lengths, labels, training, step):
            return masked_metrics(tf, network(inputs, training=training), labels, lengths,
                                  no_event_id)

    @tf.function(reduce_retracing=True, jit_compile=jit_compile or None)
    def train_step(inputs, lengths, labels):
        with tf.GradientTape() as tape:
            metrics = metrics_fn(inputs, lengths, labels, True, optimizer.iterations)
        grads = tape.gradient(metrics["loss"], network.trainable_variables)
        optimizer.apply_gradients(zip(grads, network.trainable_variables))
        return metrics

    return train_step


class Case:
    def __init__(self, label, config_name, rnn_length, seed, jit_compile=False):
        import numpy as np

        from musiczoo import registry
        family, config = registry.find_config(config_name)
        self.label, self.family, self.config = label, family.name, config
        cls = family.model_class()
        model = cls(config)
        self.jit_compile = jit_compile
        self.step = make_train_step(model, model.training_options(seed=seed), jit_compile)
        (self.batch, self.tokens) = synthetic_batch(
            family.name, config, model.codec, rnn_length, np.random.default_rng(seed))
        self.flops = 3 * forward_flops_per_token(family.name, config, model.codec) * self.tokens
        self.times = []
        self.steps = 1

    def run(self, steps):
        (inputs, lengths), labels = self.batch
        for _ in range(steps):
            loss = float(self.step(inputs, lengths, labels)["loss"])  # as train_model reads it
        if not math.isfinite(loss):
            raise RuntimeError(f"{self.label}: loss {loss}")

    def warm_up(self, seconds):
        self.run(2)                                       # trace + first steps
        began = time.perf_counter()
        self.run(1)
        self.steps = max(1, math.ceil(seconds / (time.perf_counter() - began)))

    def measure(self):
        began = time.perf_counter()
        self.run(self.steps)
        self.times.append((time.perf_counter() - began) / self.steps)


class Peak:
    def __init__(self, size, chain=4):
        import tensorflow as tf
        self.size, self.chain = size, chain
        self.a = tf.random.stateless_normal([size, size], [1, 2])
        self.b = tf.random.stateless_normal([size, size], [3, 4]) / size ** 0.5

        @tf.function
        def product(a, b):
            for _ in range(chain):
                a = tf.matmul(a, b)
            return tf.reduce_sum(a)

        self.product = product
        float(product(self.a, self.b))
        self.times = []

    def measure(self, repeats=3):
        for _ in range(repeats):
            began = time.perf_counter()
            float(self.product(self.a, self.b))
            self.times.append(time.perf_counter() - began)

    @property
    def gflops(self):
        return self.chain * 2 * self.size ** 3 / min(self.times) / 1e9


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--configs", default=DEFAULT_CONFIGS)
    parser.add_argument("--rnn_length", type=int, default=128,
                        help="steps per events-RNN example (its throughput barely depends "
                             "on it: the work per step is the same)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0,
                        help="about how long each timed measurement runs")
    parser.add_argument("--peak_size", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--jit_compile", default="",
                        help="comma list of configs also timed with the step compiled by "
                             "XLA")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    from musiczoo import runtime
    threads = runtime.configure_threads(args.threads)
    import keras
    import tensorflow as tf
    keras.utils.set_random_seed(args.seed)

    peak = Peak(args.peak_size)
    cases, jit = [], set(filter(None, args.jit_compile.split(",")))
    for name in filter(None, args.configs.split(",")):
        case = Case(name, name, args.rnn_length, args.seed)
        cases.append(case)
        if name in jit:
            cases.append(Case(f"{name} (jit_compile step)", name, args.rnn_length, args.seed,
                              jit_compile=True))
    for case in cases:
        case.warm_up(args.seconds)
    for _ in range(args.repeats):
        peak.measure()
        for case in cases:
            case.measure()
    peak_gflops = peak.gflops
    families = {}
    for case in cases:
        seconds = min(case.times)
        gflops = case.flops / seconds / 1e9
        families[case.label] = {
            "family": case.family, "batch": list(case.batch[1].shape),
            "jit_compile": case.jit_compile,
            "seconds_per_step": round(seconds, 4), "steps_timed": case.steps,
            "tokens_per_s": round(case.tokens / seconds),
            "gflop_per_step": round(case.flops / 1e9, 3), "gflops": round(gflops, 1),
            "fraction_of_peak": round(gflops / peak_gflops, 3)}
        print(f"{case.label:40s} {families[case.label]['tokens_per_s']:>9d} tokens/s "
              f"{gflops:7.1f} GFLOP/s  {gflops / peak_gflops:6.1%} of peak")
    print(f"peak: {peak_gflops:.1f} GFLOP/s ({args.peak_size}^3 fp32 matmuls)")
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    lowest = min((c for c in cases if not c.jit_compile),
                 key=lambda c: families[c.label]["fraction_of_peak"]).label
    print(json.dumps({
        "peak_gflops": round(peak_gflops, 1), "peak_size": args.peak_size,
        "threads": threads, "repeats": args.repeats, "rnn_length": args.rnn_length,
        "tensorflow": tf.__version__, "keras": keras.__version__,
        "load_average": [round(x, 2) for x in load] if load else None,
        "lowest": lowest, "families": families}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
