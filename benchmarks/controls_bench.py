"""Controls: compliance of every hard control, their cost, and their musical effect.

For every shipped bundle, --num outputs (default 50) are generated with that family's
hard controls (melodies: a key with its tonic ending, bars, a pitch range; drums: a kit
subset and bars; chorales: a key, bars; plus beam search and the cached transformer) and
measured on the decoded NoteSequence (musiczoo.controls.compliance). Then, in the same
run and with the same outputs count, the time of controlled vs uncontrolled sampling
(after one warm-up each, so tracing is not timed), and for melodies the musical figures
with and without the key (scale fit against the best-fitting key, tonic endings, pitch
classes, range).

    python benchmarks/controls_bench.py            # ~6 minutes on 2 cores

The last line printed is one JSON object: compliance, cost_ratio, effect.
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
from musiczoo.controls import Controls, compliance, theory  # noqa: E402

CASES = [  # (name, bundle, controls, options)
    ("basic_rnn", "basic_rnn", dict(key="D minor", bars=8, pitch_range="57:81"), {}),
    ("basic_rnn beam", "basic_rnn", dict(key="D minor", bars=8), dict(beam_size=2,
                                                                    branch_factor=2)),
    ("lookback_rnn", "lookback_rnn", dict(pitch_set="A,B,C#,F#,G", bars=8), {}),
    ("attention_rnn", "attention_rnn", dict(key="Eb major", bars=8), {}),
    ("drum_kit_rnn", "drum_kit_rnn", dict(drums="kick,snare,closed_hihat", bars=4), {}),
    ("cat-mel_2bar_small", "cat-mel_2bar_small", dict(key="G major", bars=2), {}),
    ("cat-drums_2bar_small", "cat-drums_2bar_small", dict(drums="kick,snare,closed_hihat"),
     {}),
    ("chorale_transformer", "chorale_transformer", dict(key="F major", bars=4),
     dict(top_k=20)),
]


def best_key(sequence):
    pitches = [n.pitch % 12 for n in sequence.notes if not n.is_drum]
    candidates = [(t, s) for t in range(12) for s in ("major", "minor")]
    fits = [(sum(p in theory.scale_pitch_classes(t, s) for p in pitches), -i)
            for i, (t, s) in enumerate(candidates)]
    return candidates[-max(fits)[1]] if pitches else (0, "major")


def figures(sequences, key=None):
    rows = []
    for sequence in sequences:
        tonic, scale = key or best_key(sequence)
        report = compliance.measure(sequence, Controls(key=(tonic, scale)))
        pitched = [n.pitch for n in sequence.notes if not n.is_drum]
        rows.append((report["measured"]["scale_fit"], report["checks"].get("ends_on_tonic", 0),
                     len({p % 12 for p in pitched}), max(pitched) - min(pitched) if pitched
                     else 0))
    scale_fit, tonic, classes, span = (np.mean(col) for col in zip(*rows))
    return {"scale_fit": round(float(scale_fit), 3), "tonic_endings": round(float(tonic), 3),
            "pitch_classes": round(float(classes), 2), "range": round(float(span), 2)}


def timed(call, repeats=3):
    """(result, best of `repeats` seconds) after one warm-up call (which traces the loop)."""
    result, best = call(), float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return result, best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num", type=int, default=50)
    args = parser.parse_args()
    out = {"compliance": {}, "cost_ratio": {}, "effect": {}, "num": args.num}
    for name, bundle, settings, options in CASES:
        model = musiczoo.load_bundle(bundle)
        controls = Controls.parse(**settings)
        steps = None
        if controls.bars and model.family in ("melody_rnn", "drums_rnn"):
            steps = controls.bars * 16
        elif controls.bars and model.family == "music_transformer":
            steps = controls.bars * 16
        # Interleaved, best of three each, so neither side profits from a warmer machine.
        free, free_time = timed(lambda: model.generate(args.num, steps, seed=1, **options))
        controlled, with_time = timed(lambda: model.generate(
            args.num, controls=controls, seed=1, **options))
        _, free_again = timed(lambda: model.generate(args.num, steps, seed=1, **options), 2)
        free_time = min(free_time, free_again)
        reports = [compliance.measure(s, controls) for s in controlled]
        per_check = {}
        for report in reports:
            for check, ok in report["checks"].items():
                per_check.setdefault(check, []).append(ok)
        out["compliance"][name] = {"all": round(float(np.mean([r["compliant"] for r in reports])),
                                                4),
                                   **{k: round(float(np.mean(v)), 4)
                                      for k, v in per_check.items()}}
        out["cost_ratio"][name] = round(with_time / free_time, 3)
        if controls.key is not None:
            out["effect"][name] = {"controlled": figures(controlled, controls.key),
                                   "uncontrolled": figures(free)}
        print(f"{name}: compliance {out['compliance'][name]}, cost ratio "
              f"{out['cost_ratio'][name]} ({with_time:.2f} s vs {free_time:.2f} s)",
              flush=True)
    ratios = list(out["cost_ratio"].values())
    out["cost_ratio_max"] = max(ratios)
    out["cost_ratio_mean"] = round(float(np.mean(ratios)), 3)
    out["compliance_all"] = min(v["all"] for v in out["compliance"].values())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
