"""Held-out next-event figures of a Melody RNN / Drums RNN bundle, without memorised pieces.

Scores the eval file of a create_dataset folder (the one the bundle was trained from,
rebuilt with BUILD.md's command) as training's eval does: every step of every whole eval
example, next-event cross-entropy (`loss`, nats per step), `accuracy`, and
`event_accuracy` (steps whose label is not the codec's "no event"). Some eval examples
equal a training example event for event (the same tune in two collections, a groove
sharing another's drums): those test memory, so the figures are given without them
(`eval_examples_duplicate_of_training` counts them) and, as published before
2026-12-01, with them (`with_training_duplicates`).

    python benchmarks/rnn_eval.py --bundle=basic_rnn --dataset=data/melody_basic

The last line printed is one JSON object.
"""
import argparse
import json
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

import musiczoo  # noqa: E402
from musiczoo import training  # noqa: E402
from musiczoo.pipelines.datasets import tfrecord  # noqa: E402


def per_example(model, examples, batch_size):
    """[N, 5] per example: summed loss, correct steps, correct event steps, event steps,
    steps (masked as training.masked_metrics masks)."""
    import tensorflow as tf
    no_event = int(model.codec.default_id)
    out = np.zeros((len(examples), 5))
    order = sorted(range(len(examples)), key=lambda i: len(examples[i][1]))
    for begin in range(0, len(order), batch_size):
        chosen = order[begin:begin + batch_size]
        length = max(len(examples[i][1]) for i in chosen)
        inputs = np.zeros((len(chosen), length, examples[chosen[0]][0].shape[1]), np.float32)
        labels = np.zeros((len(chosen), length), np.int32)
        mask = np.zeros((len(chosen), length), bool)
        for row, i in enumerate(chosen):
            n = len(examples[i][1])
            inputs[row, :n], labels[row, :n], mask[row, :n] = examples[i][0], examples[i][1], True
        logits = model.model(tf.constant(inputs))
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                                logits=logits).numpy()
        correct = logits.numpy().argmax(-1) == labels
        events = mask & (labels != no_event)
        for row, i in enumerate(chosen):
            out[i] = [losses[row][mask[row]].sum(), correct[row][mask[row]].sum(),
                      (correct[row] & events[row]).sum(), events[row].sum(), mask[row].sum()]
    return out


def figures(sums):
    loss, correct, event_correct, events, steps = sums.sum(0)
    return {"loss": round(loss / steps, 4), "perplexity": round(float(np.exp(loss / steps)), 3),
            "accuracy": round(correct / steps, 4),
            "event_accuracy": round(event_correct / max(events, 1), 4), "steps": int(steps)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--dataset", required=True, help="the create_dataset folder")
    parser.add_argument("--batch_size", type=int, default=64)
    args = parser.parse_args()
    from musiczoo import runtime
    runtime.configure_threads()
    started = time.monotonic()
    model = musiczoo.load_bundle(args.bundle)
    files, _ = training.dataset_files(args.dataset)
    if "eval" not in files:
        raise SystemExit(f"{args.dataset}: no eval file")
    size = model.codec.input_size
    seen = {labels.tobytes() for _, labels in tfrecord.read_examples(files["training"], size)}
    examples = list(tfrecord.read_examples(files["eval"], size))
    duplicate = np.array([labels.tobytes() in seen for _, labels in examples], bool)
    sums = per_example(model, examples, args.batch_size)
    unseen, everything = figures(sums[~duplicate]), figures(sums)
    print(f"{len(examples)} eval examples, {int(duplicate.sum())} equal to a training example; "
          f"without them: {unseen}; with them: {everything}; recorded in the bundle: "
          f"{model.metadata.get('eval_metrics')}")
    result = {"bundle": args.bundle, "dataset": str(args.dataset),
              "training_examples_distinct": len(seen), "eval_examples": len(examples),
              "eval_examples_duplicate_of_training": int(duplicate.sum()),
              **unseen, "with_training_duplicates": everything,
              "recorded_eval_metrics": model.metadata.get("eval_metrics"),
              "seconds": round(time.monotonic() - started, 1)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
