"""MIDI ingest: a folder of real MIDI files -> training examples, musiczoo vs note_seq.

The note_seq side is the two steps a Magenta user ran: note_seq's MIDI conversion to
NoteSequences (`midi_file_to_note_sequence`, what `convert_dir_to_note_sequences` calls),
then note_seq's extraction and encoding (Magenta's melody_rnn / drums_rnn pipelines,
restated in musiczoo.pipelines.extract.reference). The musiczoo side is what
`musiczoo_create_dataset` runs: the compiled MIDI reader straight to NoteArrays
(`read_files_fast`), batched extraction, the codec. Files are read into memory first on
both sides (the page cache, not the disk, is measured); writing TFRecords is left out
on both sides.

One core (pinned, numpy single-threaded), alternating repeats, best time of each; then
musiczoo again with `--num_workers` processes on all cores. The last line printed is one
JSON object; the exit status is 1 when the two sides' outputs differ.

    python benchmarks/ingest_bench.py [--folder=DIR] [--configs=basic_rnn,drum_kit] [--repeats=3]

Without --folder it gathers the real MIDI installed here: music21's test files, Debian's
MMA examples and library, and Planet Blupi's game music where installed.
"""
import argparse
import json
import os
import pathlib
import shutil
import sys
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ALL_CORES = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None

import numpy as np  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
import musiczoo  # noqa: E402,F401  (quiet note_seq's import warnings)
import note_seq  # noqa: E402
from musiczoo import registry  # noqa: E402
from musiczoo.pipelines.extract import reference  # noqa: E402
from musiczoo.pipelines.readers import fast_midi  # noqa: E402
from musiczoo.pipelines.readers.files import default_workers, read_files_fast  # noqa: E402
from musiczoo.pipelines.stats import Stats  # noqa: E402

SOURCES = ("/usr/share/doc/mma", "/usr/share/mma/lib", "/usr/share/planetblupi/music")


def gather(folder):
    """A folder of the real MIDI files installed here (copied, flat)."""
    import music21

    found = sorted(pathlib.Path(music21.__file__).parent.glob("**/*.mid"))
    for source in SOURCES:
        found += sorted(pathlib.Path(source).glob("**/*.mid"))
    for index, path in enumerate(found):
        shutil.copy(path, pathlib.Path(folder) / f"{index:04d}_{path.name}")
    return len(found)


def run_musiczoo(paths, specs, workers):
    out = {name: [] for name in specs}
    batch = []

    def flush():
        for name, spec in specs.items():
            found = spec.extractor.extract(batch, Stats())
            out[name].extend(spec.codec.encode_batch([events for _, events in found]))
        batch.clear()

    for arrays in read_files_fast(paths, progress=False, num_workers=workers):
        batch.append(arrays)
        if len(batch) == 256:
            flush()
    flush()
    return out


def run_note_seq(paths, configs):
    out = {name: [] for name in configs}
    for path in paths:
        try:
            sequence = note_seq.midi_file_to_note_sequence(str(path))
        except note_seq.MIDIConversionError:
            continue
        for name, config in configs.items():
            if name == "drum_kit":
                out[name].extend(reference.drums_pipeline(
                    sequence, steps_per_quarter=config.steps_per_quarter,
                    min_bars=config.min_bars, max_steps_truncate=config.max_steps,
                    gap_bars=config.gap_bars))
            else:
                out[name].extend(reference.melody_pipeline(
                    sequence, steps_per_quarter=config.steps_per_quarter,
                    min_note=config.min_note, max_note=config.max_note,
                    transpose_to_key=config.transpose_to_key, encoding=config.encoding,
                    min_bars=config.min_bars, max_steps_truncate=config.max_steps,
                    min_unique_pitches=config.min_unique_pitches, gap_bars=config.gap_bars))
    return out


def identical(a, b):
    return all(len(a[k]) == len(b[k]) and all(
        np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1]) for x, y in zip(a[k], b[k]))
        for k in a)


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--folder", default=None)
    parser.add_argument("--configs", default="basic_rnn,drum_kit")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--num_workers", type=int, default=None)
    args = parser.parse_args()

    names = args.configs.split(",")
    configs = {name: registry.find_config(name)[1] for name in names}
    specs = {name: config.data_spec() for name, config in configs.items()}
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder or tmp
        if not args.folder:
            gather(folder)
        paths = sorted(str(p) for p in pathlib.Path(folder).glob("**/*") if
                       p.suffix.lower() in (".mid", ".midi"))
        for path in paths:  # into the page cache
            pathlib.Path(path).read_bytes()
        fast_midi.warm_up()
        if ALL_CORES:
            os.sched_setaffinity(0, {ALL_CORES[0]})
        times = {"musiczoo": [], "note_seq": []}
        outputs = {}
        for _ in range(args.repeats):
            seconds, outputs["note_seq"] = timed(lambda: run_note_seq(paths, configs))
            times["note_seq"].append(seconds)
            seconds, outputs["musiczoo"] = timed(lambda: run_musiczoo(paths, specs, 1))
            times["musiczoo"].append(seconds)
        workers = args.num_workers or (len(ALL_CORES) if ALL_CORES else default_workers())
        if ALL_CORES:
            os.sched_setaffinity(0, set(ALL_CORES))
        parallel = []
        for _ in range(args.repeats):
            seconds, result = timed(lambda: run_musiczoo(paths, specs, workers))
            parallel.append(seconds)
        outputs_identical = identical(outputs["musiczoo"], outputs["note_seq"]) and \
            identical(result, outputs["note_seq"])
    best = {name: min(values) for name, values in times.items()}
    files = len(paths)
    summary = {
        "files": files, "configs": names,
        "examples": {name: len(outputs["musiczoo"][name]) for name in names},
        "repeats": args.repeats, "cores": 1,
        "musiczoo_seconds": round(best["musiczoo"], 4),
        "note_seq_seconds": round(best["note_seq"], 4),
        "musiczoo_files_per_s": round(files / best["musiczoo"], 1),
        "note_seq_files_per_s": round(files / best["note_seq"], 1),
        "ratio": round(best["note_seq"] / best["musiczoo"], 2),
        "workers": workers,
        "musiczoo_workers_files_per_s": round(files / min(parallel), 1),
        "ratio_workers": round(best["note_seq"] / min(parallel), 2),
        "outputs_identical": outputs_identical,
    }
    print(json.dumps(summary))
    return 0 if outputs_identical else 1


if __name__ == "__main__":
    sys.exit(main())
