"""Reconstruction and interpolation quality of a MusicVAE bundle on held-out windows.

Held-out windows are the eval side of the data the bundle was trained on: its metadata
names the input (corpus/folder) and eval ratio, and the same id-hash split and window
extraction are re-run here (or pass --dataset=<create_dataset folder> to read its eval
and training files). Windows repeat across pieces (drum grooves are short loops), so a
held-out window that equals a training window, event for event, is a test of memory:
those are counted (`eval_windows_duplicate_of_training`) and left out of the figures,
which are measured on the rest (the same figures with them are under
`with_training_duplicates`, as published before 2026-12-01). Figures, as in the MusicVAE
paper's Table 1 (per-step reconstruction accuracy):

- teacher_forced_accuracy: decoder given the true previous events, z = posterior mean.
- sampled_accuracy: decoder fed its own previous outputs (greedy), z = posterior mean.
- sampled_accuracy_temperature_1: the same, sampling at temperature 1 (seeded).
- teacher_forced_nll_per_step: the decoder's cross-entropy (nats per step) in the
  teacher-forced pass (the training eval's nll_per_step, but with z = the posterior mean).
- training_eval: the training run's own eval metrics (z sampled from the posterior),
  recomputed here: what the bundle's eval_metrics recorded on its dataset's eval file.
- interpolation: for --num_pairs random held-out pairs, decode --num_steps points on the
  slerp path (greedy) and measure each point's normalised Hamming distance from the
  path's first point; `monotone_fraction` is the fraction of consecutive steps where the
  mean distance does not fall, `monotone_fraction_per_pair` the same per pair, averaged.

    python benchmarks/vae_eval.py --bundle=cat-mel_2bar_small

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
from musiczoo.pipelines.extract import notearrays, transforms  # noqa: E402
from musiczoo.pipelines.readers.inputs import resolve_inputs  # noqa: E402
from musiczoo.pipelines.stats import Stats  # noqa: E402

BATCH = 512


def _extract_ids(vae, sequences, batch=256):
    """int32 [N, T] ids of the windows create_dataset would write for `sequences`."""
    extractor, rows = vae.config.extractor(), []
    for begin in range(0, len(sequences), batch):
        arrays = [notearrays.from_note_sequence(s) for s in sequences[begin:begin + batch]]
        rows += [vae.codec.events_to_ids(events) for _, events in extractor.extract(arrays, Stats())]
    return np.stack(rows).astype(np.int32) if rows else np.zeros((0, vae.window_steps), np.int32)


def held_out_ids(vae, dataset_dir=None):
    """int32 [N, T] ids of the held-out windows, int32 [M, T] ids of the training windows,
    and where they came from."""
    if dataset_dir:
        files, _ = training.dataset_files(dataset_dir)
        if "eval" not in files:
            raise SystemExit(f"{dataset_dir}: no eval file")
        sides = [np.stack([labels for _, labels in tfrecord.read_examples(files[mode], 1)])
                 .astype(np.int32) for mode in ("eval", "training")]
        return sides[0], sides[1], str(files["eval"])
    spec = vae.metadata.get("dataset") or {}
    if not spec.get("input_spec"):
        raise SystemExit("the bundle does not record its training input: pass --dataset")
    sequences, _, _ = resolve_inputs(spec["input_spec"])
    sides = {True: [], False: []}
    for s in sequences:
        sides[transforms.is_eval(s.id or s.filename, spec["eval_ratio"])].append(s)
    return (_extract_ids(vae, sides[True]), _extract_ids(vae, sides[False]),
            f"eval split of {spec['input_spec']} (ratio {spec['eval_ratio']})")


def training_duplicates(held_out, train):
    """bool [N]: which held-out windows equal (event for event) some training window."""
    seen = {row.tobytes() for row in train}
    return np.array([row.tobytes() in seen for row in held_out], bool)


def batches(array):
    for start in range(0, len(array), BATCH):
        yield array[start:start + BATCH]


def posterior_means(vae, ids):
    import tensorflow as tf
    return np.concatenate([vae.model.encode(tf.constant(c))[0].numpy() for c in batches(ids)])


def reconstruction(vae, ids, mu, seed):
    """Per-window accuracies [N] (teacher-forced, greedy, temperature 1) and the
    teacher-forced NLL per window [N] (nats per step)."""
    import tensorflow as tf
    teacher, greedy, sampled, nll = [], [], [], []
    for chunk, z in zip(batches(ids), batches(mu)):
        logits = vae.model.decoder(z, chunk)
        nll.append(tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=chunk, logits=logits), -1).numpy())
        logits = logits.numpy()
        teacher.append((logits.argmax(-1) == chunk).mean(-1))
        greedy.append((vae.decode_ids(z, top_k=1, seed=seed) == chunk).mean(-1))
        sampled.append((vae.decode_ids(z, temperature=1.0, seed=seed) == chunk).mean(-1))
    return tuple(np.concatenate(x) for x in (teacher, greedy, sampled, nll))


def training_eval(vae, ids, seed):
    """The training run's eval metrics (network.make_metrics_fn, z sampled from the
    posterior, seeded) over `ids`: what the bundle's eval_metrics record."""
    import tensorflow as tf

    from musiczoo.models.music_vae import network
    tf.random.set_seed(seed)
    metrics_fn = network.make_metrics_fn(vae.model, vae.config)
    step = tf.constant(int(vae.metadata.get("steps") or 0), tf.int64)
    totals, weight = {}, 0.0
    for chunk in batches(ids):
        lengths = tf.fill([len(chunk)], chunk.shape[1])
        found = metrics_fn(None, lengths, tf.constant(chunk), False, step)
        w = float(found["weight"])
        for key in ("nll_per_step", "accuracy", "kl_bits"):
            totals[key] = totals.get(key, 0.0) + float(found[key]) * w
        weight += w
    return {key: round(value / weight, 4) for key, value in totals.items()}


def figures(per_window, mask):
    """The reconstruction figures over the windows in `mask` (all windows are T steps)."""
    teacher, greedy, sampled, nll = (float(x[mask].mean()) for x in per_window)
    return {"teacher_forced_accuracy": round(teacher, 4), "sampled_accuracy": round(greedy, 4),
            "sampled_accuracy_temperature_1": round(sampled, 4),
            "teacher_forced_nll_per_step": round(nll, 4)}


def interpolation(vae, ids, mu, num_pairs, num_steps, seed):
    from musiczoo.models.music_vae.model import slerp
    rng = np.random.default_rng(seed)
    pairs = [rng.choice(len(ids), 2, replace=False) for _ in range(num_pairs)]
    ts = np.linspace(0.0, 1.0, num_steps)
    z = np.stack([slerp(mu[a], mu[b], t) for a, b in pairs for t in ts]).astype(np.float32)
    decoded = np.concatenate([vae.decode_ids(c, top_k=1, seed=seed) for c in batches(z)])
    decoded = decoded.reshape(num_pairs, num_steps, -1)
    distance = (decoded != decoded[:, :1]).mean(-1)          # [pairs, steps]
    curve = distance.mean(0)
    steps = np.diff(curve) >= 0
    per_pair = (np.diff(distance, axis=1) >= 0).mean(1)
    inputs = float(np.mean([(ids[a] != ids[b]).mean() for a, b in pairs]))
    return {"hamming_from_start": [round(float(x), 4) for x in curve],
            "inputs_hamming": round(inputs, 4),
            "monotone_fraction": float(steps.mean()),
            "monotone_fraction_per_pair": float(per_pair.mean())}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--dataset", help="create_dataset folder whose eval file to use")
    parser.add_argument("--num_pairs", type=int, default=100)
    parser.add_argument("--num_steps", type=int, default=11, help="points on each path")
    parser.add_argument("--max_windows", type=int, default=0, help="0: all held-out windows")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.monotonic()
    vae = musiczoo.load_bundle(args.bundle)
    if "interpolate" not in vae.capabilities:
        raise SystemExit(f"{args.bundle} is not a MusicVAE bundle")
    ids, train, source = held_out_ids(vae, args.dataset)
    if args.max_windows:
        ids = ids[np.random.default_rng(args.seed).permutation(len(ids))[:args.max_windows]]
    duplicate = training_duplicates(ids, train)
    novel = ~duplicate
    print(f"{len(ids)} held-out windows from {source}; {int(duplicate.sum())} of them equal a "
          f"training window ({len(train)} training windows): {int(novel.sum())} held out")
    if not novel.any():
        raise SystemExit("every held-out window equals a training window: nothing to measure")
    mu = posterior_means(vae, ids)
    per_window = reconstruction(vae, ids, mu, args.seed)
    unseen, everything = figures(per_window, novel), figures(per_window, np.ones_like(novel))
    for name, found in (("unseen windows", unseen), ("all held-out windows", everything)):
        print(f"{name}: per-step accuracy teacher-forced {found['teacher_forced_accuracy']:.4f}, "
              f"sampled (greedy) {found['sampled_accuracy']:.4f}, sampled (temperature 1) "
              f"{found['sampled_accuracy_temperature_1']:.4f}; teacher-forced NLL "
              f"{found['teacher_forced_nll_per_step']:.4f} per step")
    run_eval, run_eval_all = training_eval(vae, ids[novel], args.seed), training_eval(
        vae, ids, args.seed)
    print(f"training-run eval (z sampled): unseen {run_eval}, all {run_eval_all}")
    interp = interpolation(vae, ids[novel], mu[novel], args.num_pairs, args.num_steps, args.seed)
    interp_all = interpolation(vae, ids, mu, args.num_pairs, args.num_steps, args.seed)
    print(f"interpolation over {args.num_pairs} pairs of unseen windows: Hamming distance "
          f"from start {interp['hamming_from_start']}, monotone steps "
          f"{interp['monotone_fraction']:.2f}")
    result = {"bundle": str(args.bundle), "config": vae.config.name,
              "training_steps": vae.metadata.get("steps"), "held_out_source": source,
              "training_windows": len(train), "held_out_windows_before_dedupe": len(ids),
              "eval_windows_duplicate_of_training": int(duplicate.sum()),
              "held_out_windows": int(novel.sum()), **unseen, "training_eval": run_eval,
              "interpolation_pairs": args.num_pairs, "interpolation_steps": args.num_steps,
              **interp,
              # The figures as measured before the dedupe (training duplicates included).
              "with_training_duplicates": {**everything, "training_eval": run_eval_all,
                                           **interp_all},
              "seconds": round(time.monotonic() - started, 1)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
