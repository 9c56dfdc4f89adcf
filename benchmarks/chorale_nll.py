"""Held-out note-wise NLL of a chorale Music Transformer, beside the paper's JSB figures.

Rebuilds the held-out chorales from what the bundle recorded (its dataset's input and
eval ratio; the split is by sequence id, as create_dataset made it), serializes each as
the model was trained (start symbol, then S A T B per 16th-note step) and scores every
token of every held-out chorale:

- `whole`: each chorale in one pass, every token seeing all earlier ones (relative
  attention needs no position table, so pieces longer than the training crop are fine);
- `chunked`: consecutive pieces of the training context, each opened by the start
  symbol (what training's eval reports).

"Note-wise" NLL is the mean negative log-likelihood in nats per token, each token being
one voice at one 16th-note step (Huang et al. 2018, Table 2: baseline Transformer
0.417, relative attention 0.357, relative pitch/time 0.335, on the JSB Chorales split).
The last line printed is one JSON object.

    python benchmarks/chorale_nll.py [--bundle=chorale_transformer]
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

PAPER = {"baseline_transformer": 0.417, "relative_transformer": 0.357,
         "relative_pitch_time": 0.335}


def held_out_grids(model):
    from musiczoo.pipelines.extract import notearrays, transforms
    from musiczoo.pipelines.readers.inputs import resolve_inputs
    from musiczoo.pipelines.stats import Stats
    spec = model.metadata.get("dataset") or {}
    if not spec.get("input_spec"):
        raise SystemExit("the bundle does not record its dataset; cannot rebuild the split")
    sequences, _, _ = resolve_inputs(spec["input_spec"])
    held = [s for s in sequences if transforms.is_eval(s.id or s.filename, spec["eval_ratio"])]
    extractor = model.config.data_spec().extractor
    grids = [grid for _, grid in extractor.extract(
        [notearrays.from_note_sequence(s) for s in held], Stats())]
    return grids, f"eval split of {spec['input_spec']} (ratio {spec['eval_ratio']})"


def score(model, tokens, length=None):
    """(summed NLL, correct, count) of tokens[1:] given the earlier ones."""
    import tensorflow as tf
    inputs, labels = tokens[:-1], tokens[1:]
    pieces = [(0, len(labels))] if not length else [
        (s, min(s + length, len(labels))) for s in range(0, len(labels), length)]
    nll = correct = 0.0
    for begin, end in pieces:
        window = np.concatenate([[model.codec.start_id], inputs[begin + 1:end]])
        logits = model.model(tf.constant(window[None]))[0]
        log_probs = tf.nn.log_softmax(logits).numpy()
        target = labels[begin:end]
        nll -= log_probs[np.arange(len(target)), target].sum()
        correct += (log_probs.argmax(-1) == target).sum()
    return nll, correct, len(labels)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bundle", default="chorale_transformer")
    args = parser.parse_args()
    import musiczoo
    from musiczoo import runtime
    runtime.configure_threads()
    model = musiczoo.load_bundle(args.bundle)
    grids, split = held_out_grids(model)
    began = time.perf_counter()
    result = {"bundle": args.bundle, "split": split, "chorales": len(grids),
              "tokens": int(sum(4 * len(g) for g in grids))}
    for name, length in (("whole", None), ("chunked", model.config.max_length)):
        totals = np.zeros(3)
        for grid in grids:
            totals += score(model, model.codec.tokens(grid), length)
        result[f"nll_{name}"] = round(totals[0] / totals[2], 4)
        result[f"accuracy_{name}"] = round(totals[1] / totals[2], 4)
    result["paper_jsb"] = PAPER
    result["seconds"] = round(time.perf_counter() - began, 1)
    print(f"{len(grids)} held-out chorales ({split}), {result['tokens']} tokens: note-wise "
          f"NLL {result['nll_whole']} (whole pieces), {result['nll_chunked']} (chunks of "
          f"{model.config.max_length}); paper (JSB): {PAPER}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
