"""MusicVAE attribute vectors (the MusicVAE paper's, never released by Magenta): stored in
the bundle, used by `--attribute=density:+1.5` and `vae.shift(z, "density", 1.5)`.

Every training window (the training side of the split the bundle records) is encoded to
its posterior mean; for each attribute the vector is the mean code of the windows in its
top quartile minus the mean of those in its bottom quartile. Attributes: note_density
(onsets per bar), register (mean pitch), pitch_range (semitones), syncopation (fraction of
onsets off the beat); drums: note_density and syncopation.

    python benchmarks/make_attributes.py --bundle=cat-mel_2bar_small

It rewrites the bundle with the vectors in its metadata (weights unchanged; remake its
golden record afterwards: benchmarks/make_golden.py). Last line: one JSON object.
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
from musiczoo import bundles  # noqa: E402
from musiczoo.models.music_vae.attributes import window_attributes  # noqa: E402
from musiczoo.pipelines.extract import notearrays, transforms  # noqa: E402
from musiczoo.pipelines.readers.inputs import resolve_inputs  # noqa: E402
from musiczoo.pipelines.stats import Stats  # noqa: E402


def training_windows(vae):
    meta = vae.metadata.get("dataset") or {}
    spec, ratio = meta.get("input_spec"), meta.get("eval_ratio") or 0.1
    sequences, _, _ = resolve_inputs(spec)
    extractor, rows = vae.config.extractor(), []
    batch = []
    for sequence in sequences:
        if transforms.is_eval(sequence.id or sequence.filename, ratio):
            continue
        batch.append(notearrays.from_note_sequence(sequence))
        if len(batch) == 256:
            rows += [vae.codec.events_to_ids(e) for _, e in extractor.extract(batch, Stats())]
            batch = []
    rows += [vae.codec.events_to_ids(e) for _, e in extractor.extract(batch, Stats())]
    return np.unique(np.asarray(rows, np.int32), axis=0), f"{spec}, training side"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", required=True)
    args = parser.parse_args()
    import tensorflow as tf
    start = time.monotonic()
    vae = musiczoo.load_bundle(args.bundle)
    rows, source = training_windows(vae)
    mus = np.concatenate([vae.model.encode(tf.constant(rows[i:i + 512]))[0].numpy()
                          for i in range(0, len(rows), 512)])
    values = window_attributes(vae, rows)
    vectors = {}
    for name, value in values.items():
        low, high = np.quantile(value, [0.25, 0.75])
        top, bottom = mus[value >= high], mus[value <= low]
        if len(top) < 10 or len(bottom) < 10 or high == low:
            continue
        vectors[name] = {"vector": [round(float(v), 6) for v in top.mean(0) - bottom.mean(0)],
                         "low_quartile": float(low), "high_quartile": float(high),
                         "windows": int(len(value))}
    vae.metadata["attribute_vectors"] = vectors
    vae.metadata["attribute_source"] = f"{source}: {len(rows)} distinct windows"
    path = bundles.resolve_bundle(args.bundle)
    vae.save_bundle(path)
    summary = {name: {k: v for k, v in info.items() if k != "vector"} |
               {"norm": round(float(np.linalg.norm(info["vector"])), 3)}
               for name, info in vectors.items()}
    print(json.dumps({"bundle": args.bundle, "windows": len(rows), "attributes": summary,
                      "seconds": round(time.monotonic() - start, 1)}))


if __name__ == "__main__":
    main()
