"""Reading a big MIDI file inside the input limits: time and peak memory.

Writes a file of `--notes` notes (8-note chords every eighth note at 120 qpm, 480 ticks
per quarter, running status: 1,000,000 notes are 2.2 hours and 6.25 MB) and reads it
with musiczoo.pipelines.readers.files.read_file in a fresh subprocess, `--repeats` times.
Also times the pre-scan (limits.scan_midi) alone. The last line printed is one JSON object.

    python benchmarks/big_midi_bench.py [--notes=1000000] [--repeats=2]
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from musiczoo.pipelines.readers import limits  # noqa: E402
from tests.midi_mutants import chord_midi  # noqa: E402

READ = """
import json, sys, time
from musiczoo.pipelines.readers.files import read_file
start = time.perf_counter()
sequence, = read_file(sys.argv[1])
print(json.dumps({"seconds": time.perf_counter() - start, "notes": len(sequence.notes),
                  "total_time": sequence.total_time,
                  "rss_mb": next(int(line.split()[1]) for line in open("/proc/self/status")
                                 if line.startswith("VmHWM:")) / 1024}))
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--notes", type=int, default=1_000_000, help="a multiple of 8")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    data = chord_midi(args.notes)
    start = time.perf_counter()
    summary = limits.scan_midi(data)
    scan_seconds = time.perf_counter() - start
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "big.mid"
        path.write_bytes(data)
        env = dict(os.environ, PYTHONPATH=str(REPO))
        for _ in range(args.repeats):
            done = subprocess.run([sys.executable, "-c", READ, str(path)], capture_output=True,
                                  text=True, env=env, check=True)
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(json.dumps({
        "notes": summary.notes, "events": summary.events, "bytes": len(data),
        "music_seconds": round(summary.seconds, 1), "scan_seconds": round(scan_seconds, 2),
        "read_seconds": round(min(r["seconds"] for r in runs), 1),
        "read_seconds_all": [round(r["seconds"], 1) for r in runs],
        "max_rss_mb": round(max(r["rss_mb"] for r in runs), 1),
        "notes_read": runs[0]["notes"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
