"""Sampling speed: musiczoo's compiled generator vs a per-step Python loop, side by side.

Model: a shipped melody bundle (default `basic_rnn`). Task: 8 sequences of 128 new steps
after a 1-event primer, temperature 1. Compiled: `musiczoo.sampling.sample` with the
bundle's model step and codec inputs (primer feed + sampling in one tf.function), as
`generate` runs it. Step-wise: what Magenta's generators did: one call of the same Keras
model per step from Python, the codec's numpy input computed in Python each step, then
the draw. Both draw with the same stateless (seed, step) op, so their ids must be
identical, which is checked. Alternating repeats, best time of each; tracing excluded
(one warm-up call each). The last line printed is one JSON object.

    python benchmarks/sampling_bench.py [--bundle=basic_rnn] [--repeats=5] [--threads=2]
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
import musiczoo  # noqa: E402
from musiczoo import sampling  # noqa: E402
from musiczoo.models.events_rnn import tf_inputs  # noqa: E402

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bundle", default="basic_rnn")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    loaded = musiczoo.load_bundle(args.bundle)
    model, codec = loaded.model, loaded.codec
    primer = np.full((args.batch, 1), codec.events_to_ids([60])[0], np.int32)
    seed = 1234
    # One Sampler, so every call reuses its compiled loop (a fresh one would retrace).
    sampler = sampling.Sampler(model.step, tf_inputs.make_input_fn(codec),
                               tf_inputs.make_resolve_fn(codec))

    def compiled():
        ids, ll = sampler.sample(model.initial_state(args.batch), primer, args.steps,
                                 seed=seed)
        return ids.numpy(), ll.numpy()

    def stepwise():
        state, history = model.initial_state(args.batch), [primer[:, 0]]
        ll = np.zeros(args.batch, np.float32)
        rows = [[int(primer[b, 0])] for b in range(args.batch)]
        inputs = np.stack([codec.inputs_from_ids(r)[-1] for r in rows])
        logits, state = model.step(inputs, state)
        for step in range(args.steps):
            labels = tf.random.stateless_categorical(logits, 1, tf.constant([seed, step], tf.int64),
                                                     dtype=tf.int32)[:, 0]
            ll += tf.gather(tf.nn.log_softmax(logits), labels, batch_dims=1).numpy()
            ids = [int(codec.resolve_label(int(l), r)) if hasattr(codec, "resolve_label")
                   else int(l) for l, r in zip(labels.numpy(), rows)]
            for r, i in zip(rows, ids):
                r.append(i)
            history.append(np.array(ids, np.int32))
            if step < args.steps - 1:
                inputs = np.stack([codec.inputs_from_ids(r)[-1] for r in rows])
                logits, state = model.step(inputs, state)
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
        "bundle": args.bundle, "config": loaded.config.name, "batch": args.batch,
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
