"""Writes each shipped bundle's profile: figures and 2-bar patterns of its training music.

The training side of the split the bundle records (its corpus and eval ratio, the id hash
create_dataset uses) goes through the bundle's own extractor, and every example back to a
NoteSequence the way the model's outputs are decoded, so outputs and training music are
measured alike (musiczoo.compose.profile). Used by musiczoo_compose to rank variations and
flag near-copies of training pieces.

    python benchmarks/make_profiles.py                 # every shipped bundle
    python benchmarks/make_profiles.py --bundle=basic_rnn

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
from musiczoo import bundles  # noqa: E402
from musiczoo.compose.profile import Profile  # noqa: E402
from musiczoo.pipelines.extract import chorales, notearrays, transforms  # noqa: E402
from musiczoo.pipelines.readers.inputs import resolve_inputs  # noqa: E402
from musiczoo.pipelines.stats import Stats  # noqa: E402


def corpus_of(model):
    meta = model.metadata.get("dataset") or {}
    spec = meta.get("input_spec") or model.metadata.get("training_data", "")
    if "mma_grooves" in spec:
        return "mma_grooves", meta.get("eval_ratio") or 0.1
    if model.family == "music_transformer":
        return "bach_chorales", meta.get("eval_ratio") or 0.1
    return "bach_soprano,folk_melodies", meta.get("eval_ratio") or 0.1


def decoded(model, events):
    """A training example as the model's decoder would write it."""
    codec = model.codec
    if model.family == "music_transformer":
        return chorales.grid_to_note_sequence(np.asarray(events), model.config.steps_per_quarter)
    ids = np.asarray(codec.events_to_ids(list(events) if model.family != "music_vae"
                                         else events), np.int64)
    if model.family == "music_vae":
        return model.to_note_sequence(ids)
    return model.to_note_sequence(ids, {"shift": 0}, 120.0)


def training_music(model):
    spec, ratio = corpus_of(model)
    extractor = model.config.data_spec().extractor
    sequences, _, _ = resolve_inputs(spec)
    batch, stats = [], Stats()
    for sequence in sequences:
        if transforms.is_eval(sequence.id or sequence.filename, ratio):
            continue
        batch.append(notearrays.from_note_sequence(sequence))
        if len(batch) == 256:
            yield from (decoded(model, events) for _, events in extractor.extract(batch, stats))
            batch = []
    if batch:
        yield from (decoded(model, events) for _, events in extractor.extract(batch, stats))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", action="append", help="shipped bundle (repeatable)")
    args = parser.parse_args()
    summary = {}
    for name in args.bundle or sorted(bundles.list_bundles()):
        start = time.monotonic()
        model = musiczoo.load_bundle(name)
        spec, ratio = corpus_of(model)
        profile = Profile.build(training_music(model),
                                source=f"{spec}, training side (eval ratio {ratio})")
        path = bundles.resolve_bundle(name)
        profile.save(path.with_suffix(""))
        summary[name] = {"windows": len(profile.known), "figures": profile.figures,
                         "seconds": round(time.monotonic() - start, 1)}
        print(f"{name}: {summary[name]}", flush=True)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
