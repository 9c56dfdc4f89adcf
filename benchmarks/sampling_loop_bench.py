"""Sampling speed: musiczoo's compiled loop vs a per-step eager loop, side by side.

Model: a 2-layer LSTM(128) step as one Keras functional model (basic_rnn's shape: 38 one-hot
classes in and out), random weights. Task: 8 sequences of 128 new steps after a 1-event
primer, temperature 1. Compiled: `musiczoo.sampling.sample` (primer feed + sampling in one
tf.function). Step-wise: what Magenta's generators did, one Keras `model(...)` call per step
from Python, then the draw. Both draw with the same stateless (seed, step) op, so their ids
must be identical, which is checked. Alternating repeats, best time of each; tracing is
excluded (one warm-up call each). The last line printed is one JSON object.

    python benchmarks/sampling_loop_bench.py [--repeats=5] [--threads=2]
"""
import argparse
import json
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from musiczoo import sampling  # noqa: E402

CLASSES, UNITS, LAYERS = 38, 128, 2


def build_step_model():
    import keras
    keras.utils.set_random_seed(0)
    x = keras.Input((CLASSES,))
    states = [keras.Input((UNITS,)) for _ in range(2 * LAYERS)]
    output, new_states = x, []
    for layer in range(LAYERS):
        output, (h, c) = keras.layers.LSTMCell(UNITS)(output, states[2 * layer:2 * layer + 2])
        new_states += [h, c]
    logits = keras.layers.Dense(CLASSES)(output)
    return keras.Model([x] + states, [logits] + new_states)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    model = build_step_model()
    primer = np.random.default_rng(0).integers(0, CLASSES, size=(args.batch, 1)).astype(np.int32)
    zeros = [tf.zeros([args.batch, UNITS]) for _ in range(2 * LAYERS)]
    seed = 1234

    # Made once, so every call reuses the compiled loop (a fresh lambda would retrace).
    def step_fn(inputs, state):
        logits, *new_state = model([inputs] + list(state))
        return logits, new_state

    def input_fn(history, length):
        return tf.one_hot(history[:, length - 1], CLASSES)

    def resolve_fn(labels, history, length):
        return labels

    def compiled():
        ids, ll = sampling.sample(step_fn, zeros, input_fn, resolve_fn, primer, args.steps,
                                  seed=seed)
        return ids.numpy(), ll.numpy()

    def stepwise():
        state, history = list(zeros), [primer[:, 0]]
        ll = np.zeros(args.batch, np.float32)
        logits, *state = model([tf.one_hot(primer[:, 0], CLASSES)] + state)
        for step in range(args.steps):
            labels = tf.random.stateless_categorical(logits, 1, tf.constant([seed, step], tf.int64),
                                                     dtype=tf.int32)[:, 0]
            ll += tf.gather(tf.nn.log_softmax(logits), labels, batch_dims=1).numpy()
            history.append(labels.numpy())
            if step < args.steps - 1:
                logits, *state = model([tf.one_hot(labels, CLASSES)] + state)
        return np.stack(history, axis=1), ll

    outputs = {"compiled": compiled(), "stepwise": stepwise()}  # warm-up (and tracing)
    times = {"compiled": [], "stepwise": []}
    for _ in range(args.repeats):
        for name, fn in (("stepwise", stepwise), ("compiled", compiled)):
            start = time.perf_counter()
            outputs[name] = fn()
            times[name].append(time.perf_counter() - start)
    best = {name: min(values) for name, values in times.items()}
    identical = bool(np.array_equal(outputs["compiled"][0], outputs["stepwise"][0]))
    result = {
        "model": f"{LAYERS}x LSTM({UNITS}), {CLASSES} classes", "batch": args.batch,
        "steps": args.steps, "primer_length": 1, "threads": args.threads,
        "repeats": args.repeats, "tensorflow": tf.__version__,
        # A step = one loop iteration producing one event for each of the `batch` rows.
        "compiled_seconds": round(best["compiled"], 4),
        "stepwise_seconds": round(best["stepwise"], 4),
        "compiled_steps_per_s": round(args.steps / best["compiled"], 1),
        "stepwise_steps_per_s": round(args.steps / best["stepwise"], 1),
        "ratio": round(best["stepwise"] / best["compiled"], 2),
        "ids_identical": identical,
        "max_log_likelihood_difference": float(np.max(np.abs(
            outputs["compiled"][1] - outputs["stepwise"][1]))),
    }
    print(json.dumps(result))
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
