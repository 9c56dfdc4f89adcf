"""Writes the golden record of shipped bundles: scores on held-out inputs + fixed-seed notes.

Inputs are taken from the held-out (eval) side of the data each bundle was trained on, by
the split its metadata records (corpus and eval ratio; the same id hash create_dataset
uses): two melodies (64 steps) for the melody RNNs, two drum tracks for the drums RNN,
two 2-bar windows for each MusicVAE, two chorale openings (32 grid steps) for the Music
Transformer. Run it once per bundle, when a bundle is (re)trained:

    python benchmarks/make_golden.py                 # every shipped bundle
    python benchmarks/make_golden.py --bundle=basic_rnn

It writes bundles/<name>.golden.json; tests/test_golden.py and `musiczoo_bundles --check`
recompute it. The last line printed is one JSON object.
"""
import argparse
import json
import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import musiczoo  # noqa: E402
from musiczoo import bundles, golden  # noqa: E402
from musiczoo.pipelines.extract import notearrays, transforms  # noqa: E402
from musiczoo.pipelines.readers.inputs import resolve_input  # noqa: E402
from musiczoo.pipelines.stats import Stats  # noqa: E402

ROWS = 2
MELODY_STEPS = 64
CHORALE_STEPS = 32
GENERATION = {"melody_rnn": {"num_outputs": 2, "num_steps": 32, "seed": 1},
              "drums_rnn": {"num_outputs": 2, "num_steps": 32, "seed": 1},
              "music_vae": {"num_outputs": 2, "num_steps": None, "seed": 1},
              "music_transformer": {"num_outputs": 2, "num_steps": 16, "seed": 1, "top_k": 20}}
MULTITRACK_GENERATION = {"num_outputs": 2, "num_steps": 96, "seed": 1, "top_k": 20}
# Drum corpora: the drum bundles trained on mma_grooves only.
CORPUS_FOR = {"melody_rnn": "bach_soprano", "music_transformer": "bach_chorales"}


def held_out_events(model, wanted):
    """(events, where) of the first `wanted` extracted examples on the eval side."""
    meta = model.metadata.get("dataset") or {}
    ratio = meta.get("eval_ratio") or 0.1
    spec = meta.get("input_spec") or model.metadata.get("training_data") or ""
    if getattr(model.config, "representation", None) == "multitrack":
        corpus = "multitrack"  # the multi-instrument bundle's own corpus (style folders)
    elif model.family in CORPUS_FOR:
        corpus = CORPUS_FOR[model.family]
    elif "mma_grooves" in spec:
        corpus = "mma_grooves"
    else:
        corpus = "bach_soprano"
    extractor = model.config.data_spec().extractor
    found = []
    sequences, _, _ = resolve_input(corpus)
    for sequence in sequences:
        if not transforms.is_eval(sequence.id or sequence.filename, ratio):
            continue
        arrays = notearrays.from_note_sequence(sequence)
        for _, events in extractor.extract([arrays], Stats()):
            found.append((events, sequence.filename))
            break
        if len(found) == wanted:
            return found, f"{corpus}, eval side (ratio {ratio})"
    raise SystemExit(f"{model.config.name}: only {len(found)} held-out examples in {corpus}")


def rows_for(model):
    found, where = held_out_events(model, ROWS)
    codec, rows = model.codec, []
    for events, _ in found:
        if model.family == "music_transformer":
            rows.append(codec.tokens(events[:CHORALE_STEPS]))
        elif model.family == "music_vae":
            rows.append(codec.events_to_ids(events))
        else:
            rows.append(codec.events_to_ids(list(events)[:MELODY_STEPS]))
    names = ", ".join(sorted({name for _, name in found}))
    return rows, f"{where}: {names}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", action="append",
                        help="a shipped bundle name (repeatable; default: all)")
    args = parser.parse_args()
    names = args.bundle or sorted(bundles.list_bundles())
    summary = {}
    for name in names:
        path = bundles.resolve_bundle(name)
        model = musiczoo.load_bundle(name)
        rows, source = rows_for(model)
        generation = GENERATION[model.family]
        if getattr(model.config, "representation", None) == "multitrack":
            generation = MULTITRACK_GENERATION  # 16 events of a band may hold no whole note
        record = golden.make(model, rows, source, generation,
                             sha256=model.metadata.get("sha256"))
        golden.write(golden.sidecar(path), record)
        summary[name] = {"source": source, **{k: [round(v, 4) for v in vs]
                                              for k, vs in record["scores"].items()}}
        print(f"{name}: {summary[name]}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
