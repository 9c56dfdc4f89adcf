"""Fuzzed MIDI through create_dataset: every file read or skipped with a reason, bounded memory.

Makes `--num` seeded mutants (byte flips, truncation, chunk duplication and removal, header
fields, huge delta-times, running-status abuse; tests/midi_mutants.py) of the real MIDI
files on this machine: music21's own MIDI files, the first `--chorales` Bach chorales
written as MIDI by musiczoo.pipelines.writers.write_midi, and `--grooves` drum grooves of the
mma_grooves corpus where it is built (else drum_kit finds no drums to extract). Then runs
create_dataset over the folder once per config, each run in a fresh subprocess whose peak
RSS is measured. A crash is a run that raises or dies. The last line printed is one JSON
object.

    python benchmarks/fuzz_bench.py [--num=3000] [--seed=0] [--configs=basic_rnn,drum_kit]
"""
import argparse
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import musiczoo  # noqa: E402,F401  (quiet note_seq's import warnings)
from musiczoo.pipelines.readers import corpora  # noqa: E402
from musiczoo.pipelines.readers.cache import music21_corpus_dir  # noqa: E402
from musiczoo.pipelines.readers.files import read_file  # noqa: E402
from musiczoo.pipelines.writers import write_midi  # noqa: E402
from tests import midi_mutants  # noqa: E402

# The child's own peak (/proc VmHWM): Linux carries ru_maxrss over from the parent at fork.
RUN = """
import json, sys
from musiczoo import commands
from musiczoo.pipelines.datasets import build as dataset
try:  # keeping no example is an answer (counted, explained), not a crash
    stats = commands.create_dataset(sys.argv[1], sys.argv[2], sys.argv[3],
                                    progress=False).stats
except dataset.NoExamplesError as error:
    stats = error.stats
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"counts": dict(stats.counts), "rss_mb": peak / 1024}))
"""


def write_sources(folder, chorales, grooves):
    """The real MIDI files mutated (music21's, and chorales written as MIDI by musiczoo)
    and how the JSON names them."""
    music21_dir = music21_corpus_dir().parent
    sources = list(midi_mutants.music21_midi_files())
    names = [f"music21/{p.relative_to(music21_dir)}" for p in sources]
    for path in sorted((music21_dir / "corpus" / "bach").glob("bwv*.mxl"))[:chorales]:
        voices = corpora.chorale_voices(read_file(path)[0])
        if voices is not None:
            sources.append(folder / f"{path.stem}.mid")
            write_midi(voices, sources[-1])
            names.append(f"music21/corpus/bach/{path.name} via writers.write_midi")
    try:  # drum grooves too where the mma_grooves corpus is built (drum_kit finds drums)
        from musiczoo.pipelines.readers import mma
        grooves = sorted(mma.mma_grooves_dir().glob("**/*.mid"))[:grooves]
    except FileNotFoundError:
        grooves = []
    sources += grooves
    names += [f"mma_grooves/{p.relative_to(mma.mma_grooves_dir())}" for p in grooves]
    return sources, names


def run_config(config, folder, out_dir, timeout):
    """One create_dataset run in a fresh subprocess: (report dict or None, stderr tail)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    start = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-c", RUN, config, str(folder), str(out_dir)],
                              capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout} s", time.monotonic() - start
    seconds = time.monotonic() - start
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return None, f"exit {done.returncode}: {done.stderr[-2000:]}", seconds
    return json.loads(lines[-1]), "", seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--num", type=int, default=3000, help="mutants to make")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--configs", default="basic_rnn,drum_kit")
    parser.add_argument("--chorales", type=int, default=17,
                        help="chorales written as MIDI to add to music21's 23 MIDI files")
    parser.add_argument("--grooves", type=int, default=10,
                        help="mma_grooves files to add, where that corpus is built")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per run")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        (tmp / "sources").mkdir()
        sources, names = write_sources(tmp / "sources", args.chorales, args.grooves)
        folder = tmp / "mutants"
        folder.mkdir()
        start = time.monotonic()
        mutants = midi_mutants.make_mutants(sources, args.num, seed=args.seed)
        for name, data in mutants:
            (folder / name).write_bytes(data)
        made_seconds = time.monotonic() - start
        runs, crashes = {}, 0
        for config in args.configs.split(","):
            report, error, seconds = run_config(config, folder, tmp / f"out_{config}",
                                                args.timeout)
            if report is None:
                crashes += 1
                runs[config] = {"crashed": True, "error": error, "seconds": round(seconds, 1)}
                print(f"{config}: CRASHED: {error}", file=sys.stderr)
                continue
            counts = report["counts"]
            failed = {k[len("files_failed_"):]: v for k, v in sorted(counts.items())
                      if k.startswith("files_failed_")}
            runs[config] = {
                "crashed": False, "files_read": counts.get("files_read", 0),
                "skipped": sum(failed.values()), "skipped_by_reason": failed,
                "accounted": counts.get("files_read", 0) + sum(failed.values()) == len(mutants),
                "sequences_failed": {k: v for k, v in counts.items()
                                     if k.startswith("sequences_failed_")},
                "examples": counts.get("training_examples", 0) + counts.get("eval_examples", 0),
                "rss_mb": round(report["rss_mb"], 1), "seconds": round(seconds, 1)}
            print(f"{config}: {json.dumps(runs[config])}", file=sys.stderr)
    # Also covers a child that died; includes this process's own size at the fork.
    children_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    finished = [r for r in runs.values() if not r["crashed"]]
    result = {
        "files": len(mutants), "seed": args.seed,
        "sources": names,
        "skipped": max((r["skipped"] for r in finished), default=None),
        "crashes": crashes,
        "all_accounted": all(r["accounted"] for r in finished) and not crashes,
        "max_rss_mb": max((r["rss_mb"] for r in finished), default=None),
        "rusage_children_max_rss_mb": round(children_rss, 1),
        "seconds": round(sum(r["seconds"] for r in runs.values()), 1),
        "mutants_seconds": round(made_seconds, 1),
        "runs": runs,
    }
    print(json.dumps(result))
    return 0 if result["all_accounted"] else 1


if __name__ == "__main__":
    sys.exit(main())
