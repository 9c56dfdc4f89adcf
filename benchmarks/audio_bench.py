"""Audio rendering speed and loudness: musiczoo's numpy SoundFont sampler (TimGM6mb.sf2)
and, where installed, FluidSynth (FluidR3_GM.sf2), on the same three pieces.

* melody16: 16 bars of eighth notes at 120 qpm (128 notes, 32 s), piano, a seeded walk;
* chorale8: the first 8 bars of a Bach chorale from music21's corpus (bwv269), its four
  voices on choir aahs (GM 52, a two-layer preset: two voices per note), at its tempo;
* drums2: a 2-bar rock loop at 120 qpm (16th-note hi-hats, kick, snare; 44 hits).
Each is rendered to 44.1 kHz stereo `--repeats` times; the best time counts, after one
warm-up call (which parses the SoundFont: reported as first_call_s). x realtime is the
audio's length over the time. The last line printed is one JSON object.

    python benchmarks/audio_bench.py [--repeats=5] [--rate=44100]
"""
import argparse
import json
import pathlib
import shutil
import sys
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore", message="Couldn't find ffmpeg or avconv")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from note_seq.protobuf import music_pb2  # noqa: E402

from musiczoo.render import audio, sf2  # noqa: E402


def melody16():
    rng = np.random.default_rng(16)
    s = music_pb2.NoteSequence()
    s.tempos.add(qpm=120)
    pitch = 67
    for k in range(128):
        pitch = int(np.clip(pitch + rng.choice([-2, -1, 1, 2, 0, 3, -3]), 55, 84))
        s.notes.add(start_time=k * 0.25, end_time=k * 0.25 + 0.24, pitch=pitch,
                    velocity=int(rng.integers(70, 110)), program=0)
    s.total_time = 32.0
    return s


def chorale8():
    import music21
    import note_seq
    from note_seq import sequences_lib
    path = pathlib.Path(music21.__file__).parent / "corpus" / "bach" / "bwv269.mxl"
    s = note_seq.musicxml_file_to_sequence_proto(str(path))
    bar = 4 * 60.0 / (s.tempos[0].qpm if s.tempos else 120.0)
    s = sequences_lib.extract_subsequence(s, 0.0, 8 * bar)
    for note in s.notes:
        note.program = 52
    return s


def drums2():
    s = music_pb2.NoteSequence()
    s.tempos.add(qpm=120)
    hits = [(k * 0.125, 42, 70 + 20 * (k % 2 == 0)) for k in range(32)]
    hits += [(t, 36, 110) for t in (0.0, 0.75, 1.0, 2.0, 2.75, 3.0, 3.25)]
    hits += [(t, 38, 105) for t in (0.5, 1.5, 2.5, 3.5)] + [(3.875, 46, 90)]
    for t, pitch, velocity in hits:
        s.notes.add(start_time=t, end_time=t + 0.1, pitch=pitch, velocity=velocity,
                    is_drum=True, instrument=9)
    s.total_time = 4.0
    return s


def measure(sequence, synth, rate, repeats):
    start = time.perf_counter()
    audio.render(sequence, rate, synth=synth)
    first = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out, info = audio.render(sequence, rate, synth=synth)
        best = min(best, time.perf_counter() - start)
    return {"notes": len(sequence.notes), "synth": info["synth"],
            "music_s": round(info["music_seconds"], 3), "audio_s": round(info["seconds"], 3),
            "render_s": round(best, 4), "first_call_s": round(first, 4),
            "x_realtime": round(info["seconds"] / best, 1),
            "rms_dbfs": round(info["rms_dbfs"], 2), "peak_dbfs": round(info["peak_dbfs"], 2),
            "gain_db": round(info["gain_db"], 1), "limiter_db": round(info["limiter_db"], 2),
            "voices": info["notes"].get("voices")}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rate", type=int, default=44100)
    args = parser.parse_args()
    synths = ["sf2"] + (["fluidsynth"] if shutil.which("fluidsynth") else [])
    sf2._cache.clear()
    results = {}
    for name, make in (("melody16", melody16), ("chorale8", chorale8), ("drums2", drums2)):
        sequence = make()
        for synth in synths:
            row = results[f"{name}/{synth}"] = measure(sequence, synth, args.rate, args.repeats)
            print(f"{name:9s} {row['synth']:28s} {row['notes']:4d} notes {row['audio_s']:6.2f} s "
                  f"audio in {row['render_s']:.3f} s ({row['x_realtime']:.0f}x realtime), "
                  f"RMS {row['rms_dbfs']} dBFS, peak {row['peak_dbfs']} dBFS, "
                  f"gain {row['gain_db']} dB", file=sys.stderr)
    print(json.dumps({"benchmark": "audio", "rate": args.rate, "repeats": args.repeats,
                      "results": results}))


if __name__ == "__main__":
    main()
