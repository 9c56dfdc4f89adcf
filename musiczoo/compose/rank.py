"""Scoring variations so the best comes first, and saying why.

score = 0.5 * compliance + 0.35 * typicality + 0.15 * novelty, each in 0..1:
- compliance: the fraction of hard controls the decoded piece obeys (1.0 by construction;
  anything less is a bug the table makes visible);
- typicality: how typical its figures are of the bundle's training music (notes per bar,
  range, pitch classes, repetition, kick and snare placement: profile.typicality);
- novelty: 1 unless a stretch of >= 4 bars equals training music (a near-copy: sequence
  models memorise), then 0.
"""
from musiczoo.compose import profile as profile_lib
from musiczoo.controls import compliance

WEIGHTS = {"compliance": 0.5, "typicality": 0.35, "novelty": 0.15}


def score(sequence, controls, profile=None):
    report = compliance.measure(sequence, controls)
    checks = report["checks"]
    figures = profile_lib.stats(sequence)
    typical = profile.typicality(figures) if profile is not None else {}
    copied = profile.longest_copy(sequence) if profile is not None else 0
    parts = {"compliance": (sum(checks.values()) / len(checks)) if checks else 1.0,
             "typicality": (sum(typical.values()) / len(typical)) if typical else 0.5,
             "novelty": 0.0 if copied >= profile_lib.COPY_FLAG_BARS else 1.0}
    total = sum(WEIGHTS[k] * v for k, v in parts.items())
    return {"score": round(total, 4), "parts": {k: round(v, 4) for k, v in parts.items()},
            "checks": checks, "measured": report["measured"],
            "figures": {k: round(v, 4) for k, v in figures.items()},
            "copies_training_bars": copied,
            "near_copy": copied >= profile_lib.COPY_FLAG_BARS}


def table(rows):
    """The CLI's table: rank, file, score, compliance, typical, novel, notes/bar, notes."""
    lines = [f"{'rank':>4}  {'file':<18} {'score':>6} {'obeys':>6} {'typical':>7} "
             f"{'novel':>5} {'notes/bar':>9}  seed"]
    for row in rows:
        scores = row["scores"]
        flag = "  near-copy of training music" if scores["near_copy"] else ""
        broken = [k for k, ok in scores["checks"].items() if not ok]
        flag += f"  broke: {', '.join(broken)}" if broken else ""
        lines.append(f"{row['rank']:>4}  {row['file']:<18} {scores['score']:>6.3f} "
                     f"{scores['parts']['compliance']:>6.2f} "
                     f"{scores['parts']['typicality']:>7.2f} "
                     f"{'no' if scores['near_copy'] else 'yes':>5} "
                     f"{scores['measured']['notes_per_bar']:>9.2f}  {row['seed']}{flag}")
    return "\n".join(lines)
