"""Reconstruction and interpolation quality of a MusicVAE bundle on held-out windows.

Held-out windows are the eval side of the data the bundle was trained on: its metadata
names the input (corpus/folder) and eval ratio, and the same id-hash split and window
extraction are re-run here (or pass --dataset=<create_dataset folder> to read its eval
file). Figures, as in the MusicVAE paper's Table 1 (per-step reconstruction accuracy):

- teacher_forced_accuracy: decoder given the true previous events, z = posterior mean.
- sampled_accuracy: decoder fed its own previous outputs (greedy), z = posterior mean.
- sampled_accuracy_temperature_1: the same, sampling at temperature 1 (seeded).
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


def held_out_ids(vae, dataset_dir=None):
    """int32 [N, T] ids of the held-out windows, and where they came from."""
    if dataset_dir:
        files, _ = training.dataset_files(dataset_dir)
        if "eval" not in files:
            raise SystemExit(f"{dataset_dir}: no eval file")
        rows = [labels for _, labels in tfrecord.read_examples(files["eval"], 1)]
        return np.stack(rows).astype(np.int32), str(files["eval"])
    spec = vae.metadata.get("dataset") or {}
    if not spec.get("input_spec"):
        raise SystemExit("the bundle does not record its training input: pass --dataset")
    sequences, _, _ = resolve_inputs(spec["input_spec"])
    held = [notearrays.from_note_sequence(s) for s in sequences
            if transforms.is_eval(s.id or s.filename, spec["eval_ratio"])]
    windows = vae.config.extractor().extract(held, Stats())
    ids = np.stack([vae.codec.events_to_ids(events) for _, events in windows])
    return ids.astype(np.int32), f"eval split of {spec['input_spec']} (ratio {spec['eval_ratio']})"


def batches(array):
    for start in range(0, len(array), BATCH):
        yield array[start:start + BATCH]


def posterior_means(vae, ids):
    import tensorflow as tf
    return np.concatenate([vae.model.encode(tf.constant(c))[0].numpy() for c in batches(ids)])


def reconstruction(vae, ids, mu, seed):
    teacher, greedy, sampled = [], [], []
    for chunk, z in zip(batches(ids), batches(mu)):
        logits = vae.model.decoder(z, chunk).numpy()
        teacher.append(logits.argmax(-1) == chunk)
        greedy.append(vae.decode_ids(z, top_k=1, seed=seed) == chunk)
        sampled.append(vae.decode_ids(z, temperature=1.0, seed=seed) == chunk)
    return tuple(float(np.concatenate(x).mean()) for x in (teacher, greedy, sampled))


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
    ids, source = held_out_ids(vae, args.dataset)
    if args.max_windows:
        ids = ids[np.random.default_rng(args.seed).permutation(len(ids))[:args.max_windows]]
    print(f"{len(ids)} held-out windows from {source}")
    mu = posterior_means(vae, ids)
    teacher, greedy, sampled = reconstruction(vae, ids, mu, args.seed)
    print(f"per-step accuracy: teacher-forced {teacher:.4f}, sampled (greedy) {greedy:.4f}, "
          f"sampled (temperature 1) {sampled:.4f}")
    interp = interpolation(vae, ids, mu, args.num_pairs, args.num_steps, args.seed)
    print(f"interpolation over {args.num_pairs} pairs: Hamming distance from start "
          f"{interp['hamming_from_start']}, monotone steps {interp['monotone_fraction']:.2f}")
    result = {"bundle": str(args.bundle), "config": vae.config.name,
              "training_steps": vae.metadata.get("steps"), "held_out_windows": len(ids),
              "held_out_source": source, "teacher_forced_accuracy": round(teacher, 4),
              "sampled_accuracy": round(greedy, 4),
              "sampled_accuracy_temperature_1": round(sampled, 4),
              "interpolation_pairs": args.num_pairs, "interpolation_steps": args.num_steps,
              **interp, "seconds": round(time.monotonic() - started, 1)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
