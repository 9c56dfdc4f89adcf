"""Piano-roll cost: seconds and bytes per picture for the pieces users make, and for the
huge files the raster path exists for.

    python benchmarks/roll_bench.py [--repeats=3]

Pieces: a 16-bar melody (128 eighth notes), 8 bars of a four-voice Bach chorale from
music21's corpus, a 4-bar drum groove (16th-note hi-hats, kick, snare), and 200,000 random
notes (the raster path). Best of --repeats after one warm-up (matplotlib's import and
font cache). The last line is one JSON object.
"""
import argparse
import json
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from note_seq.protobuf import music_pb2  # noqa: E402


def melody():
    sequence = music_pb2.NoteSequence()
    sequence.tempos.add(qpm=120)
    rng = np.random.default_rng(0)
    for k in range(128):
        sequence.notes.add(pitch=int(rng.integers(60, 76)), start_time=k * 0.25,
                           end_time=k * 0.25 + 0.24, velocity=90)
    sequence.total_time = 32.0
    return sequence


def chorale():
    import music21
    import note_seq
    path = pathlib.Path(music21.__file__).parent / "corpus" / "bach" / "bwv269.mxl"
    sequence = note_seq.musicxml_file_to_sequence_proto(str(path))
    return note_seq.extract_subsequence(sequence, 0.0, 16.0)


def drums():
    sequence = music_pb2.NoteSequence()
    sequence.tempos.add(qpm=110)
    step = 60 / 110 / 4
    for k in range(64):
        hits = [42] + ([36] if k % 8 == 0 else []) + ([38] if k % 8 == 4 else [])
        for pitch in hits:
            sequence.notes.add(pitch=pitch, start_time=k * step, end_time=(k + 1) * step,
                               velocity=100, is_drum=True, instrument=9)
    sequence.total_time = 64 * step
    return sequence


def huge():
    sequence = music_pb2.NoteSequence()
    rng = np.random.default_rng(1)
    for k in range(200000):
        sequence.notes.add(pitch=int(rng.integers(30, 96)), start_time=k * 0.005,
                           end_time=k * 0.005 + 0.2, velocity=80)
    sequence.total_time = sequence.notes[-1].end_time
    return sequence


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from musiczoo.render import piano_roll
    pieces = {"melody16": melody(), "chorale8": chorale(), "drums4": drums(), "huge200k": huge()}
    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        piano_roll.piano_roll(pieces["melody16"], pathlib.Path(folder) / "warm.png")
        for name, sequence in pieces.items():
            for fmt in ("png", "svg"):
                best, info = None, None
                for repeat in range(args.repeats):
                    target = pathlib.Path(folder) / f"{name}_{repeat}.{fmt}"
                    start = time.perf_counter()
                    info = piano_roll.piano_roll(sequence, target)
                    took = time.perf_counter() - start
                    best = took if best is None else min(best, took)
                rows[f"{name}.{fmt}"] = {"notes": info["notes"], "drawn": info["drawn"],
                                         "seconds": round(best, 3),
                                         "kib": round(target.stat().st_size / 1024, 1)}
                print(f"{name:9s} {fmt}  {info['notes']:7d} notes  {info['drawn']:6s}  "
                      f"{best:6.3f} s  {target.stat().st_size / 1024:8.1f} KiB")
    print(json.dumps({"repeats": args.repeats, "pictures": rows}))


if __name__ == "__main__":
    main()
