"""Musical sanity of a bundle: its samples beside the held-out data it learned from.

Generates `--num` samples from the bundle and re-extracts the held-out (eval) side of
the dataset it was trained on (same input, same id-hash split), then prints
musiczoo.metrics figures for both. The last line printed is one JSON object.

    python benchmarks/sanity.py --bundle=basic_rnn --dataset=out/basic_rnn_dataset
"""
import argparse
import json
import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import musiczoo  # noqa: E402
from musiczoo import metrics  # noqa: E402
from musiczoo.pipelines.datasets import build as dataset  # noqa: E402
from musiczoo.pipelines.extract import notearrays, transforms  # noqa: E402
from musiczoo.pipelines.readers.inputs import resolve_inputs  # noqa: E402
from musiczoo.pipelines.stats import Stats  # noqa: E402


def held_out_events(model, dataset_dir):
    info = dataset.read_dataset_info(dataset_dir)
    if not info or not info.get("input_spec"):
        raise SystemExit(f"{dataset_dir}: no dataset.json with input_spec (rebuild the dataset)")
    sequences, _, _ = resolve_inputs(info["input_spec"])
    held = [notearrays.from_note_sequence(s) for s in sequences
            if transforms.is_eval(s.id or s.filename, info["eval_ratio"])]
    return [events for _, events in model.config.data_spec().extractor.extract(held, Stats())]


def sample_events(model, num, num_steps, seed):
    sequences = model.generate(num, num_steps, seed=seed)
    out = []
    for sequence in sequences:
        arrays = notearrays.quantize(notearrays.from_note_sequence(sequence),
                                     model.config.steps_per_quarter)
        if model.family == "drums_rnn":
            steps = [set() for _ in range(num_steps)]
            for start, pitch in zip(arrays.start_step.tolist(), arrays.pitch.tolist()):
                if start < num_steps:
                    steps[start].add(pitch)
            out.append([frozenset(s) for s in steps])
        else:
            events = [-2] * num_steps
            for start, pitch in zip(arrays.start_step.tolist(), arrays.pitch.tolist()):
                if start < num_steps:
                    events[start] = pitch
            out.append(events)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--dataset", required=True, help="the create_dataset folder it used")
    parser.add_argument("--num", type=int, default=100)
    parser.add_argument("--num_steps", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model = musiczoo.load_bundle(args.bundle)
    figures = metrics.drum_figures if model.family == "drums_rnn" else metrics.melody_figures
    result = {"bundle": args.bundle, "config": model.config.name,
              "samples": figures(sample_events(model, args.num, args.num_steps, args.seed)),
              "held_out": figures(held_out_events(model, args.dataset))}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
