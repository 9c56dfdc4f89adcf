"""Held-out note-wise NLL of a chorale Music Transformer, beside the paper's JSB figures.

Rebuilds the held-out chorales from what the bundle recorded (its dataset's input and
eval ratio; the split is by sequence id, as create_dataset made it), serializes each as
the model was trained (start symbol, then S A T B per 16th-note step) and scores every
token of every held-out chorale:

- `whole`: each chorale in one pass, every token seeing all earlier ones (relative
  attention needs no position table, so pieces longer than the training crop are fine);
- `chunked`: consecutive pieces of the training context, each opened by the start
  symbol (what training's eval reports).

Held-out chorales are distinct files, but a chorale can be a near-copy of a training one
(bwv20.7 and bwv20.11 share most bars). Each held-out chorale's `overlap` is the fraction
of its 2-bar (32-step) grid windows, at any step, found verbatim in some training chorale;
the `_unseen` figures leave out chorales over --max_overlap (default 0.5).

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
    """(held-out [(filename, grid)], training grids, a description of the split)."""
    from musiczoo.pipelines.extract import notearrays, transforms
    from musiczoo.pipelines.readers.inputs import resolve_inputs
    from musiczoo.pipelines.stats import Stats
    spec = model.metadata.get("dataset") or {}
    if not spec.get("input_spec"):
        raise SystemExit("the bundle does not record its dataset; cannot rebuild the split")
    sequences, _, _ = resolve_inputs(spec["input_spec"])
    sides = {True: [], False: []}
    for s in sequences:
        sides[transforms.is_eval(s.id or s.filename, spec["eval_ratio"])].append(s)
    extractor = model.config.data_spec().extractor
    grids = {held: [(sides[held][index].filename, grid) for index, grid in extractor.extract(
        [notearrays.from_note_sequence(s) for s in sides[held]], Stats())]
        for held in (True, False)}
    return (grids[True], [grid for _, grid in grids[False]],
            f"eval split of {spec['input_spec']} (ratio {spec['eval_ratio']})")


def windows(grid, steps=32):
    return [grid[i:i + steps].tobytes() for i in range(len(grid) - steps + 1)]


def overlaps(held_out, train, steps=32):
    """Per held-out grid: the fraction of its `steps`-step windows found in training."""
    seen = {w for grid in train for w in windows(grid, steps)}
    return [float(np.mean([w in seen for w in windows(grid, steps)] or [0.0]))
            for _, grid in held_out]


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
    parser.add_argument("--max_overlap", type=float, default=0.5,
                        help="held-out chorales with more of their 2-bar windows in training "
                             "are left out of the _unseen figures")
    args = parser.parse_args()
    import musiczoo
    from musiczoo import runtime
    runtime.configure_threads()
    model = musiczoo.load_bundle(args.bundle)
    held_out, train, split = held_out_grids(model)
    overlap = overlaps(held_out, train)
    near_copies = {name: round(o, 2) for (name, _), o in zip(held_out, overlap)
                   if o > args.max_overlap}
    began = time.perf_counter()
    result = {"bundle": args.bundle, "split": split, "chorales": len(held_out),
              "tokens": int(sum(4 * len(g) for _, g in held_out)),
              "near_copies_of_training": near_copies, "max_overlap": args.max_overlap}
    for name, length in (("whole", None), ("chunked", model.config.max_length)):
        totals, unseen = np.zeros(3), np.zeros(3)
        for (filename, grid), o in zip(held_out, overlap):
            scored = np.array(score(model, model.codec.tokens(grid), length))
            totals += scored
            if o <= args.max_overlap:
                unseen += scored
        result[f"nll_{name}"] = round(totals[0] / totals[2], 4)
        result[f"accuracy_{name}"] = round(totals[1] / totals[2], 4)
        result[f"nll_{name}_unseen"] = round(unseen[0] / unseen[2], 4)
        result[f"accuracy_{name}_unseen"] = round(unseen[1] / unseen[2], 4)
    result["chorales_unseen"] = len(held_out) - len(near_copies)
    result["paper_jsb"] = PAPER
    result["seconds"] = round(time.perf_counter() - began, 1)
    print(f"{len(held_out)} held-out chorales ({split}), {result['tokens']} tokens: note-wise "
          f"NLL {result['nll_whole']} (whole pieces), {result['nll_chunked']} (chunks of "
          f"{model.config.max_length}); without the {len(near_copies)} near-copies of a "
          f"training chorale {near_copies}: {result['nll_whole_unseen']} / "
          f"{result['nll_chunked_unseen']}; paper (JSB): {PAPER}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
