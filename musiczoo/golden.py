"""Golden scores: what a bundle answers on a small fixed input, recorded once and checked
forever after.

A golden record holds a few held-out inputs as class ids (a melody, a drum pattern, a
chorale's tokens, 2-bar windows), the scores the model gave them (log-likelihoods,
accuracies: `model.score_ids`), and one fixed-seed generation as its notes. Recomputing
them proves that a refactor, a Keras upgrade or a bundle migration changed nothing that
matters: weights restored to the wrong variables, a changed codec or a changed sampling
loop all move the scores or the notes.

Shipped bundles keep theirs beside them (`bundles/<name>.golden.json`); a record in a
bundle's own metadata (`metadata["golden"]`) is used where present.

Tolerance: scores are float64 sums of float32 network outputs. Measured on the shipped
bundles (2026-12-01, 2 cores): identical with 1 or 2 threads; with oneDNN's kernels
switched off (TF_ENABLE_ONEDNN_OPTS=0: another accumulation order) they move by up to
1.6e-5 nats (drum_kit_rnn; the others 1e-7..5e-6). `ATOL` = 1e-3 nats plus `RTOL` = 1e-4
allows ~60x that, and nothing real: one weight array swapped or one layer re-initialised
moves them by whole nats. The generated notes must be equal: sampling is stateless and
seeded, so the same logits give the same draws.
"""
import json
import math
import pathlib

import numpy as np

SCHEMA = 1
RTOL = 1e-4
ATOL = 1e-3


def sidecar(bundle_path):
    path = pathlib.Path(bundle_path)
    return path.with_name(path.stem + ".golden.json")


def notes_of(sequence):
    """A NoteSequence's notes as comparable rows (times rounded to the microsecond)."""
    return sorted([int(n.pitch), int(n.velocity), round(n.start_time, 6), round(n.end_time, 6),
                   int(n.instrument), bool(n.is_drum)] for n in sequence.notes)


def generate_notes(model, spec):
    sequences = model.generate(spec["num_outputs"], spec.get("num_steps"), seed=spec["seed"],
                               temperature=spec.get("temperature", 1.0),
                               top_k=spec.get("top_k", 0))
    return [notes_of(sequence) for sequence in sequences]


def make(model, rows, source, generation, sha256=None):
    """A golden record for `model`: its scores on `rows` and the notes of `generation`
    ({num_outputs, num_steps, seed, temperature, top_k})."""
    rows = [[int(v) for v in row] for row in rows]
    return {"schema": SCHEMA, "family": model.family, "config": model.config.name,
            "bundle_sha256": sha256, "source": source, "inputs": rows,
            "scores": model.score_ids(rows), "generation": dict(generation),
            "notes": generate_notes(model, generation),
            "tolerance": {"rtol": RTOL, "atol": ATOL}}


def find(bundle_path, metadata):
    """The golden record for a bundle file: its metadata's, else its sidecar file's."""
    if isinstance(metadata.get("golden"), dict):
        return metadata["golden"]
    path = sidecar(bundle_path)
    if path.exists():
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as error:
            return {"unreadable": f"{path}: {error}"}
    return None


def check(model, golden, sha256=None):
    """Problems found recomputing `golden` with `model` (an empty list: all equal)."""
    if "unreadable" in golden:
        return [golden["unreadable"]]
    if golden.get("schema") != SCHEMA:
        return [f"golden record schema {golden.get('schema')!r}, this musiczoo reads {SCHEMA}"]
    problems = []
    if sha256 and golden.get("bundle_sha256") not in (None, sha256):
        problems.append("the golden record was made for another file (sha256 "
                        f"{str(golden['bundle_sha256'])[:12]}..., this one {sha256[:12]}...)")
        return problems
    for key in ("family", "config"):
        ours = model.family if key == "family" else model.config.name
        if golden.get(key) != ours:
            problems.append(f"golden {key} {golden.get(key)!r}, the bundle's {ours!r}")
    if problems:
        return problems
    scores = model.score_ids(golden["inputs"])
    for name, expected in golden["scores"].items():
        got = scores.get(name)
        if got is None or len(got) != len(expected):
            problems.append(f"score {name}: missing or of another length")
            continue
        for i, (a, b) in enumerate(zip(got, expected)):
            if not (math.isfinite(a) and math.isclose(a, b, rel_tol=RTOL, abs_tol=ATOL)):
                problems.append(f"score {name}[{i}] is {a:.6f}, golden {b:.6f}")
    notes = generate_notes(model, golden["generation"])
    if notes != golden["notes"]:
        differ = sum(a != b for a, b in zip(notes, golden["notes"]))
        problems.append(f"fixed-seed generation differs from the golden notes in "
                        f"{differ} of {len(golden['notes'])} outputs")
    return problems


def max_difference(model, golden):
    """The largest absolute score difference (for reports)."""
    scores = model.score_ids(golden["inputs"])
    return max((abs(a - b) for name, expected in golden["scores"].items()
                for a, b in zip(scores[name], expected)), default=0.0)


def write(path, record):
    from musiczoo import outputs
    outputs.write_text(path, json.dumps(record, indent=1, default=_plain) + "\n",
                       overwrite=True)


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")
