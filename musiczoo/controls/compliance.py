"""Measuring what came out against what was asked, on the decoded NoteSequence.

The masks make hard controls hold by construction; this module is the independent check
that they did (a bug in a mask, a codec or a decoder shows up here), and the report a
user reads. `measure(sequence, controls)` -> {"checks": {name: bool}, "measured": {...}};
only hard controls are checks; density is measured and reported against its target.
"""
import math

from musiczoo.controls import theory
from musiczoo.pipelines.codecs.drums import DEFAULT_DRUM_TYPE_PITCHES

_DRUM_CLASS_OF_PITCH = {pitch: index for index, pitches in enumerate(DEFAULT_DRUM_TYPE_PITCHES)
                        for pitch in pitches}


def bar_seconds(sequence):
    qpm = sequence.tempos[0].qpm if sequence.tempos else 120.0
    numerator, denominator = 4, 4
    if sequence.time_signatures:
        numerator = sequence.time_signatures[0].numerator or 4
        denominator = sequence.time_signatures[0].denominator or 4
    return numerator * 4.0 / denominator * 60.0 / qpm


def final_notes(notes):
    """The pitched notes sounding when the piece's last note starts (the final chord)."""
    if not notes:
        return []
    last = max(n.start_time for n in notes)
    return [n for n in notes if n.start_time <= last + 1e-9 < n.end_time or n.start_time == last]


def measure(sequence, controls):
    pitched = [n for n in sequence.notes if not n.is_drum]
    drums = [n for n in sequence.notes if n.is_drum]
    bar = bar_seconds(sequence)
    bars = sequence.total_time / bar if bar else 0.0
    checks, measured = {}, {}
    classes = controls.pitch_classes()
    pcs = sorted({n.pitch % 12 for n in pitched})
    measured["pitch_classes"] = theory.pitch_class_names(
        pcs, *(controls.key if controls.key else (None, None)))
    measured["pitch_range"] = [min((n.pitch for n in pitched), default=None),
                               max((n.pitch for n in pitched), default=None)]
    if controls.key is not None:
        scale = theory.scale_pitch_classes(*controls.key)
        measured["scale_fit"] = (sum(n.pitch % 12 in scale for n in pitched) / len(pitched)
                                 if pitched else 1.0)
        checks["key"] = measured["scale_fit"] == 1.0
        if controls.end_on_tonic and pitched:
            chord = final_notes(pitched)
            lowest, highest = min(n.pitch for n in chord), max(n.pitch for n in chord)
            measured["final_notes"] = sorted(n.pitch for n in chord)
            checks["ends_on_tonic"] = (lowest % 12 == controls.tonic
                                       and highest % 12 == controls.tonic)
    if controls.instruments is not None:
        played = {theory.INSTRUMENT_FAMILIES[-1] if n.is_drum else
                  theory.INSTRUMENT_FAMILIES[n.program // 8] for n in sequence.notes}
        measured["instruments"] = [name for name in theory.INSTRUMENT_FAMILIES if name in played]
        measured["instruments_silent"] = [name for name in controls.instruments
                                          if name not in played]
        checks["instruments"] = played <= set(controls.instruments)
    if controls.pitch_set is not None:
        checks["pitch_set"] = all(n.pitch % 12 in controls.pitch_set for n in pitched)
    if classes is not None and controls.key is None and controls.pitch_set is None:
        checks["pitch_classes"] = all(n.pitch % 12 in classes for n in pitched)
    if controls.pitch_range is not None:
        low, high = controls.pitch_range
        checks["pitch_range"] = all(low <= n.pitch <= high for n in pitched)
    measured["bars"] = round(bars, 6)
    if controls.bars is not None:
        checks["bars"] = math.isclose(bars, controls.bars, abs_tol=1e-6)
    if controls.qpm is not None:
        tempo = sequence.tempos[0].qpm if sequence.tempos else 120.0
        measured["qpm"] = tempo
        checks["qpm"] = math.isclose(tempo, controls.qpm, rel_tol=1e-5)  # MIDI: us per beat
    if controls.time_signature != (4, 4) or controls.bars is not None:
        meter = ((sequence.time_signatures[0].numerator, sequence.time_signatures[0].denominator)
                 if sequence.time_signatures else (4, 4))
        checks["time_signature"] = tuple(meter) == tuple(controls.time_signature)
    if controls.instrument is not None:
        checks["instrument"] = all(n.program == controls.instrument for n in pitched)
        checks["drums_on_drum_channel"] = all(n.is_drum for n in drums)
    if controls.drums is not None:
        used = {_DRUM_CLASS_OF_PITCH.get(n.pitch, -1) for n in drums}
        measured["drum_classes"] = sorted(theory.DRUM_CLASSES[c] if c >= 0 else "other"
                                          for c in used)
        checks["drums"] = used <= set(controls.drums)
    onsets = len(drum_onsets(drums)) if drums and not pitched else len(pitched)
    measured["notes_per_bar"] = round(onsets / bars, 3) if bars else 0.0
    return {"checks": checks, "measured": measured,
            "compliant": all(checks.values())}


def drum_onsets(drums):
    """Distinct hit times (a kick and a hi-hat at once are one onset)."""
    return sorted({round(n.start_time, 6) for n in drums})
