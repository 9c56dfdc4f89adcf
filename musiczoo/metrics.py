"""Musical sanity figures, the same for generated samples and held-out data.

Melodies: pitch range, fraction of notes in the best-fitting major or minor scale,
notes per bar. Drums: drum classes used, and how often kick and snare land on a beat.
Each function takes event sequences (melody int arrays, or drum frozensets) and returns
means over pieces, so samples and data compare side by side.
"""
import numpy as np

from musiczoo.pipelines.codecs.drums import DEFAULT_DRUM_TYPE_PITCHES

_MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
_NATURAL_MINOR = np.array([0, 2, 3, 5, 7, 8, 10])
# 24 scales as 12-bit masks: [major on C..B, minor on C..B].
_SCALES = np.zeros((24, 12), bool)
for _root in range(12):
    _SCALES[_root, (_MAJOR + _root) % 12] = True
    _SCALES[12 + _root, (_NATURAL_MINOR + _root) % 12] = True

KICK, SNARE = 0, 1   # drum type indices in DEFAULT_DRUM_TYPE_PITCHES
_DRUM_TYPE = {pitch: index for index, pitches in enumerate(DEFAULT_DRUM_TYPE_PITCHES)
              for pitch in pitches}


def melody_figures(melodies, steps_per_bar=16):
    """Means over melodies of: pitch_range (semitones), scale_fit (fraction of notes in
    the best major/minor scale), notes_per_bar; plus count."""
    ranges, fits, densities = [], [], []
    for events in melodies:
        events = np.asarray(events)
        pitches = events[events >= 0]
        if len(pitches) == 0:
            continue
        ranges.append(int(pitches.max() - pitches.min()))
        histogram = np.bincount(pitches % 12, minlength=12)
        fits.append(float((_SCALES @ histogram).max() / len(pitches)))
        densities.append(len(pitches) / max(len(events) / steps_per_bar, 1e-9))
    return {"count": len(ranges), "pitch_range": _mean(ranges), "scale_fit": _mean(fits),
            "notes_per_bar": _mean(densities)}


def drum_figures(tracks, steps_per_beat=4):
    """Means over drum tracks of: drum_classes (of the 9 kit types used), kick_on_beat and
    snare_on_beat (fraction of kick / snare hits on a beat), hits_per_bar."""
    classes, kick, snare, density = [], [], [], []
    for events in tracks:
        types_used, hits = set(), {KICK: [0, 0], SNARE: [0, 0]}
        total = 0
        for step, event in enumerate(events):
            for pitch in event:
                kind = _DRUM_TYPE.get(pitch)
                if kind is None:
                    continue
                total += 1
                types_used.add(kind)
                if kind in hits:
                    hits[kind][0] += step % steps_per_beat == 0
                    hits[kind][1] += 1
        if not total:
            continue
        classes.append(len(types_used))
        density.append(total / max(len(events) / (4 * steps_per_beat), 1e-9))
        for kind, out in ((KICK, kick), (SNARE, snare)):
            if hits[kind][1]:
                out.append(hits[kind][0] / hits[kind][1])
    return {"count": len(classes), "drum_classes": _mean(classes),
            "kick_on_beat": _mean(kick), "snare_on_beat": _mean(snare),
            "hits_per_bar": _mean(density)}


def _mean(values):
    return round(float(np.mean(values)), 4) if values else None
