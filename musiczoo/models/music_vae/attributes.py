"""Attribute vectors: directions in a MusicVAE's latent space that change one musical
property (the MusicVAE paper, section 5.4), made by benchmarks/make_attributes.py from
the bundle's training windows and stored in its metadata.

    vae.shift(z, "note_density", 1.5)     # z moved 1.5 vectors toward denser windows
"""
import numpy as np

from musiczoo.controls.theory import ATTRIBUTE_ALIASES as ALIASES  # the names users type

MELODY_ATTRIBUTES = ("note_density", "register", "pitch_range", "syncopation")
DRUM_ATTRIBUTES = ("note_density", "syncopation")


def window_attributes(vae, rows):
    """{attribute: float [N]} of windows given as class ids [N, T]."""
    rows = np.asarray(rows)
    steps_per_quarter = vae.config.steps_per_quarter
    bars = vae.config.slice_bars
    values = {name: [] for name in (DRUM_ATTRIBUTES if vae.config.representation == "drums"
                                    else MELODY_ATTRIBUTES)}
    for row in rows:
        events = vae.codec.ids_to_events(row)
        if vae.config.representation == "drums":
            onsets = [i for i, e in enumerate(events) if len(e)]
            pitches = []
        else:
            onsets = [i for i, e in enumerate(events) if e >= 0]
            pitches = [int(e) for e in events if e >= 0]
        values["note_density"].append(len(onsets) / bars)
        values["syncopation"].append(
            sum(i % steps_per_quarter != 0 for i in onsets) / len(onsets) if onsets else 0.0)
        if "register" in values:
            values["register"].append(float(np.mean(pitches)) if pitches else 0.0)
            values["pitch_range"].append(float(max(pitches) - min(pitches)) if pitches else 0.0)
    return {name: np.asarray(v, np.float64) for name, v in values.items()}


def shift(vectors, z, attributes):
    """z [N, Z] moved by sum(amount * vector) for each (attribute, amount)."""
    from musiczoo.controls import ControlError
    z = np.array(z, np.float32)
    for name, amount in attributes:
        if name not in vectors:
            known = ", ".join(sorted(vectors)) or "none (run benchmarks/make_attributes.py)"
            raise ControlError(f"this bundle has no {name!r} attribute vector; it has: {known}")
        z += amount * np.asarray(vectors[name]["vector"], np.float32)
    return z
