"""What a bundle's training music is like, to judge its outputs against: typical figures
(notes per bar, range, pitch classes, repetition; for drums kick and snare placement) and
the 2-bar patterns it was trained on, so near-copies of training pieces can be flagged.

A profile lives beside its bundle (`bundles/<name>.profile.json` + `.windows.npy`), made
by `benchmarks/make_profiles.py` from the training side of the split the bundle records.
Patterns are transposition-invariant (pitches relative to the window's first note), so a
melody sampled in C and moved to D still matches the C tune it copies.
"""
import hashlib
import json
import pathlib

import numpy as np

KICK_PITCHES = {35, 36}
SNARE_PITCHES = {38, 40, 37, 39}
WINDOW_BARS = 2
WINDOW_MIN_ONSETS = 5  # sparser windows (a held note, a few hits) match too much music
COPY_FLAG_BARS = 4  # a stretch this long equal to training music counts as a near-copy


def _bar_seconds(sequence):
    qpm = sequence.tempos[0].qpm if sequence.tempos else 120.0
    meter = (sequence.time_signatures[0].numerator, sequence.time_signatures[0].denominator) \
        if sequence.time_signatures else (4, 4)
    return meter[0] * 4.0 / meter[1] * 60.0 / qpm, 60.0 / qpm


def grid(sequence, steps_per_quarter=4):
    """[(step, pitch, is_drum)] of every onset, on a 16th-note grid."""
    _, quarter = _bar_seconds(sequence)
    step = quarter / steps_per_quarter
    return sorted({(int(round(n.start_time / step)), int(n.pitch), bool(n.is_drum))
                   for n in sequence.notes})


def stats(sequence, steps_per_quarter=4):
    """Figures of one piece (the same for outputs and for training music)."""
    bar, quarter = _bar_seconds(sequence)
    bars = max(sequence.total_time / bar, 1e-9) if bar else 1.0
    onsets = grid(sequence, steps_per_quarter)
    pitched = [p for _, p, drum in onsets if not drum]
    out = {"notes_per_bar": len({s for s, _, _ in onsets}) / bars}
    steps_per_bar = int(round(bar / quarter * steps_per_quarter))
    if pitched:
        out["pitch_range"] = float(max(pitched) - min(pitched))
        out["pitch_classes"] = float(len({p % 12 for p in pitched}))
    by_bar = {}
    for step, pitch, _ in onsets:
        by_bar.setdefault(step // max(steps_per_bar, 1), []).append(
            (step % max(steps_per_bar, 1), pitch))
    patterns = [tuple(v) for _, v in sorted(by_bar.items())]
    if len(patterns) > 1:
        out["repetition"] = sum(p in patterns[:i] for i, p in enumerate(patterns)) / len(patterns)
    drums = [(s, p) for s, p, drum in onsets if drum]
    if drums:
        kicks = [s for s, p in drums if p in KICK_PITCHES]
        snares = [s for s, p in drums if p in SNARE_PITCHES]
        beat = steps_per_quarter
        if kicks:
            out["kick_on_beats"] = sum(s % beat == 0 for s in kicks) / len(kicks)
        if snares:
            out["snare_on_backbeats"] = sum(s % (2 * beat) == beat for s in snares) / len(snares)
    return out


def windows(sequence, steps_per_quarter=4):
    """uint64 keys of the piece's bar-aligned 2-bar windows, in order (0 for a window of
    fewer than WINDOW_MIN_ONSETS onsets); pitches relative to the window's first pitched
    onset."""
    bar, quarter = _bar_seconds(sequence)
    steps_per_bar = int(round(bar / quarter * steps_per_quarter))
    onsets = grid(sequence, steps_per_quarter)
    if not onsets or not steps_per_bar:
        return np.zeros(0, np.uint64)
    last_bar = onsets[-1][0] // steps_per_bar
    keys = []
    for start in range(0, last_bar + 1):
        lo, hi = start * steps_per_bar, (start + WINDOW_BARS) * steps_per_bar
        inside = [(s - lo, p, d) for s, p, d in onsets if lo <= s < hi]
        if len(inside) < WINDOW_MIN_ONSETS:
            keys.append(0)
            continue
        first = next((p for _, p, d in inside if not d), 0)
        body = repr([(s, p if d else p - first, d) for s, p, d in inside]).encode()
        keys.append(int.from_bytes(hashlib.blake2b(body, digest_size=8).digest(), "little")
                    or 1)
    return np.asarray(keys, np.uint64)


class Profile:
    def __init__(self, figures, known_windows, source=""):
        self.figures = figures           # {name: [mean, std]}
        self.known = np.unique(np.asarray(known_windows, np.uint64))
        self.source = source

    @classmethod
    def build(cls, sequences, source="", steps_per_quarter=4):
        values, keys = {}, []
        for sequence in sequences:
            for name, value in stats(sequence, steps_per_quarter).items():
                values.setdefault(name, []).append(value)
            keys.append(windows(sequence, steps_per_quarter))
        figures = {name: [float(np.mean(v)), float(np.std(v)) or 1e-6]
                   for name, v in values.items()}
        known = np.concatenate(keys) if keys else np.zeros(0, np.uint64)
        return cls(figures, known[known != 0], source)

    def save(self, stem):
        from musiczoo import outputs
        stem = pathlib.Path(stem)
        outputs.write_text(stem.with_name(stem.name + ".profile.json"), json.dumps(
            {"source": self.source, "figures": self.figures,
             "windows": len(self.known)}, indent=1) + "\n", overwrite=True)
        with outputs.atomic_file(stem.with_name(stem.name + ".windows.npy"), True) as f:
            np.save(f, self.known)

    @classmethod
    def load(cls, stem):
        """The profile saved beside a bundle (`stem` = the bundle path without .mzb), or
        None when there is none."""
        stem = pathlib.Path(stem)
        info, known = (stem.with_name(stem.name + ".profile.json"),
                       stem.with_name(stem.name + ".windows.npy"))
        if not info.exists():
            return None
        data = json.loads(info.read_text())
        keys = np.load(known, allow_pickle=False) if known.exists() else np.zeros(0, np.uint64)
        return cls(data["figures"], keys, data.get("source", ""))

    def typicality(self, figures):
        """0..1 per figure: how typical the value is of the training music (1: the mean;
        exp(-z^2/2) of its distance in standard deviations)."""
        return {name: float(np.exp(-0.5 * ((figures[name] - mean) / std) ** 2))
                for name, (mean, std) in self.figures.items() if name in figures}

    def longest_copy(self, sequence, steps_per_quarter=4):
        """Bars of the longest stretch of the piece that equals training music."""
        keys = windows(sequence, steps_per_quarter)
        if not len(keys) or not len(self.known):
            return 0
        hit = np.isin(keys, self.known) & (keys != 0)
        best = run = 0
        for value in hit:
            run = run + 1 if value else 0
            best = max(best, run)
        return best + WINDOW_BARS - 1 if best else 0
