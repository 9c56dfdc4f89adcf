"""Melody pipeline throughput: musiczoo's batch path vs note_seq's own, side by side.

Both start from the same serialized NoteSequences read back from a TFRecord (the
records' bytes: note_seq parses them with protobuf, musiczoo with protobuf's check plus
its compiled reader `fast_records`, as `musiczoo_create_dataset` does for a .tfrecord),
run a melody_rnn config's data pipeline (by default basic_rnn's: split on time changes, quantize at 4 steps per quarter, extract melodies with min_bars=7 /
max_steps=512 / min_unique_pitches=5 / gap_bars=1, squash to C and 48..84, one-hot
encode) on one core, alternating repeats, best time of each. The last line printed is
one JSON object; the exit status is 1 when the two sides' outputs differ.

    python benchmarks/pipeline_bench.py [--corpus=bach_chorales] [--config=basic_rnn] [--repeats=3]

--config is any melody_rnn config (basic_rnn, mono_rnn, lookback_rnn, attention_rnn): both
sides then use its extractor settings and its encoding (note_seq's
OneHotEventSequenceEncoderDecoder, LookbackEventSequenceEncoderDecoder or
KeyMelodyEncoderDecoder with Magenta's defaults on the reference side).
"""
import argparse
import json
import os
import pathlib
import sys
import tempfile
import time

# One core, as the issue asks: pin the process and keep numpy single-threaded. The JSON's
# "cores" is the number of cores the process was then allowed to run on.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    CORES = len(os.sched_getaffinity(0))
else:  # no affinity control here (macOS): not pinned, say so
    CORES = os.cpu_count()

import numpy as np  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
import musiczoo  # noqa: E402,F401  (quiet note_seq's import warnings)
from musiczoo import registry  # noqa: E402
from note_seq.protobuf import music_pb2  # noqa: E402

from musiczoo.pipelines.extract import reference  # noqa: E402
from musiczoo.pipelines.readers import fast_records, records  # noqa: E402
from musiczoo.pipelines.readers.inputs import resolve_input  # noqa: E402
from musiczoo.pipelines.readers.records import write_note_sequences  # noqa: E402
from musiczoo.pipelines.stats import Stats  # noqa: E402


def load_records(corpus):
    """The corpus written to a NoteSequence TFRecord, its records read back as bytes
    (both sides start from these, as both would from a user's notesequences.tfrecord)."""
    sequences, _, _ = resolve_input(corpus)
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "sequences.tfrecord"
        write_note_sequences(path, sequences)
        return [record for _, record in records._records(path)]


def run_musiczoo(raw, spec, batch_size=256):
    stats = Stats()
    out = []
    for begin in range(0, len(raw), batch_size):
        arrays = [records.record_arrays(r, stats=stats) for r in raw[begin:begin + batch_size]]
        found = spec.extractor.extract([a for a in arrays if a is not None], stats)
        out.extend(spec.codec.encode_batch([events for _, events in found]))
    return out


def run_note_seq(raw, config):
    out = []
    for record in raw:
        sequence = music_pb2.NoteSequence.FromString(record)
        out.extend(reference.melody_pipeline(
            sequence, steps_per_quarter=config.steps_per_quarter, min_note=config.min_note,
            max_note=config.max_note, transpose_to_key=config.transpose_to_key,
            encoding=config.encoding, min_bars=config.min_bars, max_steps_truncate=config.max_steps,
            min_unique_pitches=config.min_unique_pitches, gap_bars=config.gap_bars))
    return out


def identical(a, b):
    return len(a) == len(b) and all(
        np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1]) for x, y in zip(a, b))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default="bach_chorales")
    parser.add_argument("--config", default="basic_rnn")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    _, config = registry.find_config(args.config, "melody_rnn")
    spec = config.data_spec()
    sequences = load_records(args.corpus)
    fast_records.warm_up()
    times = {"musiczoo": [], "note_seq": []}
    outputs = {}
    for _ in range(args.repeats):
        for name, fn in (("note_seq", lambda: run_note_seq(sequences, config)),
                         ("musiczoo", lambda: run_musiczoo(sequences, spec))):
            start = time.perf_counter()
            outputs[name] = fn()
            times[name].append(time.perf_counter() - start)
    examples = len(outputs["musiczoo"])
    best = {name: min(values) for name, values in times.items()}
    result = {
        "corpus": args.corpus, "config": args.config, "sequences": len(sequences),
        "examples": examples, "repeats": args.repeats, "cores": CORES,
        "musiczoo_seconds": round(best["musiczoo"], 4),
        "note_seq_seconds": round(best["note_seq"], 4),
        "musiczoo_examples_per_s": round(examples / best["musiczoo"], 1),
        "note_seq_examples_per_s": round(len(outputs["note_seq"]) / best["note_seq"], 1),
        "musiczoo_sequences_per_s": round(len(sequences) / best["musiczoo"], 1),
        "note_seq_sequences_per_s": round(len(sequences) / best["note_seq"], 1),
        "ratio": round(best["note_seq"] / best["musiczoo"], 2),
        "outputs_identical": identical(outputs["musiczoo"], outputs["note_seq"]),
    }
    print(json.dumps(result))
    return 0 if result["outputs_identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
