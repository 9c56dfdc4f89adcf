"""Controls -> a per-step additive bias over a codec's classes, for the compiled loop.

The plan has two parts:
* a table [T, K] (numpy, made before sampling): for every position of the history and
  every *base* class (the ids the history holds) 0 where allowed, FORBIDDEN where not,
  or a small positive number where a soft control steers toward it. Forced events are
  rows with one allowed class. Positional controls (bars, the tonic ending, a chorale's
  voice order, a melody to harmonize) are rows of this table.
* a TF function (made once per model, `make_bias_fn`) that, inside the loop, reads the
  row of the position being sampled, adds the density steer (how far the notes so far
  are behind or ahead of the target, from the history) and gives the codec's *repeat*
  classes (lookback codecs: "repeat the event N steps back") the bias of the event they
  would resolve to.
Every row must allow something: `check_table` refuses a plan that would leave the
sampler no choice before anything is sampled.
"""
import dataclasses
from typing import Optional

import numpy as np

from musiczoo.controls import ControlError, theory

FORBIDDEN = -1e9
# Soft steering strengths (logit units): toward the cadence, and per note of density gap.
CADENCE_BIAS = 1.0
DENSITY_STRENGTH = 0.6
DENSITY_NOTES_PER_BAR = {"melody": {"low": 2.0, "medium": 4.0, "high": 8.0},
                         "drums": {"low": 4.0, "medium": 8.0, "high": 14.0}}


@dataclasses.dataclass(frozen=True)
class ControlSpace:
    """What a family's classes mean, as much as controls need to know.

    kind: "melody" (base events are pitches >= 0, NOTE_OFF -1, NO_EVENT -2), "drums" (a
    class is the bitmask of the drum classes it plays), "chorale" (tokens cycle through
    `voices` voices; class 0 is silence, class c is pitch min_pitch + c - 1) or
    "performance" (note-on ids [first, last] are pitches min_pitch..).
    """
    kind: str
    num_base: int                       # classes the history holds
    num_classes: int                    # classes the model predicts (base + repeats)
    steps_per_bar: int                  # at 4/4 (chorale: grid steps per bar)
    base_events: Optional[np.ndarray] = None  # melody: event of every base class
    repeat_distances: tuple = ()        # repeat class i resolves to history[len - d_i]
    default_id: int = 0                 # what a repeat resolves to on a short history
    min_pitch: int = 0                  # chorale / performance
    note_on_ids: tuple = ()             # performance: (first, last) note-on ids
    voices: int = 4                     # chorale
    first_position: int = 0             # history position of the first event (1 after a
                                        # start symbol)
    # multitrack: per instrument (theory.INSTRUMENT_FAMILIES order) the (first, last) id
    # ranges of its notes, note-ons first; and the (first, last) ids of the prefix classes
    # (style, instrument), which only the conditioning prefix may hold.
    instrument_ids: tuple = ()
    prefix_ids: tuple = ()

    def onset_mask(self):
        """[num_base] 1 where a class starts a note (density counts these)."""
        if self.kind == "melody":
            return (self.base_events >= 0).astype(np.float32)
        if self.kind == "drums":
            return (np.arange(self.num_base) > 0).astype(np.float32)
        return np.zeros(self.num_base, np.float32)


@dataclasses.dataclass
class Plan:
    table: np.ndarray          # [T, K] float32
    target: np.ndarray         # [T] cumulative onsets wanted before each position
    strength: float            # density steer per note of gap (0: no density control)

    def check_primer(self, ids, controls):
        """Refuses a primer (kept verbatim) whose events the controls forbid."""
        for position, cls in enumerate(np.asarray(ids, np.int64)):
            if cls < self.table.shape[1] and self.table[position, cls] <= FORBIDDEN / 2:
                raise ControlError(f"the primer's step {position} breaks the controls "
                                   f"({controls.describe_pitches()}, pitch range "
                                   f"{controls.pitch_range}, drums {controls.drums}): give a "
                                   "primer that fits, or none")

    def tensors(self):
        """The loop's inputs; without a density control the steer is left out of the
        graph altogether (another trace, no per-step count over the history)."""
        import tensorflow as tf
        tensors = {"table": tf.constant(self.table, tf.float32)}
        if self.strength:
            tensors.update(target=tf.constant(self.target, tf.float32),
                           strength=tf.constant(self.strength, tf.float32))
        return tensors


def plan(space, controls, total, primer_len, steps_per_bar=None, soprano=None):
    """The Plan for sampling positions primer_len..total-1 of a history of `total` ids.
    `soprano` (chorales): the class of the given melody at every grid step, forced."""
    steps_per_bar = steps_per_bar or space.steps_per_bar
    table = np.zeros((total, space.num_base), np.float32)
    if space.kind == "chorale":
        _chorale(space, controls, table, primer_len, steps_per_bar, soprano)
    else:
        builder = {"melody": _melody, "drums": _drums, "performance": _performance,
                   "multitrack": _multitrack}[space.kind]
        builder(space, controls, table, primer_len, steps_per_bar)
    check_table(table, primer_len, controls)
    target, strength = _density(space, controls, total, steps_per_bar)
    return Plan(table, target, strength)


def check_table(table, primer_len, controls):
    allowed = (table[primer_len:] > FORBIDDEN / 2).any(axis=1)
    if not allowed.all():
        position = primer_len + int(np.argmin(allowed))
        raise ControlError(f"the controls leave nothing to play at step {position} "
                           f"({controls.describe_pitches()}, range {controls.pitch_range}): "
                           "widen the pitch range or the pitch set")


def _pitch_allowed(controls, pitches):
    return np.array([controls.allows_pitch(int(p)) for p in pitches], bool)


def _melody(space, controls, table, primer_len, steps_per_bar):
    events = space.base_events
    is_pitch = events >= 0
    ok = ~is_pitch | _pitch_allowed(controls, np.maximum(events, 0))
    if not (ok & is_pitch).any():
        pitches = events[is_pitch]
        wanted = [text for text in (
            controls.describe_pitches() if controls.pitch_classes() is not None else "",
            f"the range {controls.pitch_range[0]}:{controls.pitch_range[1]}"
            if controls.pitch_range else "") if text]
        raise ControlError(f"no pitch the model plays ({pitches.min()}..{pitches.max()}) fits "
                           f"{' and '.join(wanted)}")
    table[:, ~ok] = FORBIDDEN
    if controls.wants_tonic_ending:
        tonic = is_pitch & ok & (np.maximum(events, 0) % 12 == controls.tonic)
        if not tonic.any():
            raise ControlError(f"the tonic {theory.SHARP_NAMES[controls.tonic]} is outside "
                               "the pitches this model and the range allow: no tonic ending "
                               "(give --end_on_tonic=false or widen the range)")
        total = len(table)
        # The cadence: the last bar's downbeat is a tonic, held to the end; the half bar
        # before it leans toward the tonic triad, so the line arrives instead of jumping.
        end = max(primer_len, total - steps_per_bar)
        hold = events == -2  # NO_EVENT: the note goes on sounding
        table[end] = np.where(tonic, 0.0, FORBIDDEN)
        table[end + 1:] = np.where(hold, 0.0, FORBIDDEN)
        triad = {controls.tonic, (controls.tonic + (3 if _is_minor(controls) else 4)) % 12,
                 (controls.tonic + 7) % 12}
        leaning = is_pitch & ok & np.isin(np.maximum(events, 0) % 12, list(triad))
        start = max(primer_len, end - steps_per_bar // 2)
        table[start:end, leaning] += CADENCE_BIAS


def _is_minor(controls):
    steps = theory.SCALES[controls.key[1]]
    return 3 in steps and 4 not in steps


def _drums(space, controls, table, primer_len, steps_per_bar):
    if controls.drums is None:
        return
    allowed_bits = sum(1 << c for c in controls.drums)
    classes = np.arange(space.num_base)
    table[:, (classes & ~allowed_bits) != 0] = FORBIDDEN


def _chorale(space, controls, table, primer_len, steps_per_bar, soprano=None):
    num_classes = space.num_base
    pitches = space.min_pitch + np.arange(num_classes) - 1       # class 0: silence
    ok = np.ones(num_classes, bool)
    ok[1:] = _pitch_allowed(controls, pitches[1:])
    table[:, ~ok] = FORBIDDEN
    positions = np.arange(len(table))
    voice = (positions - space.first_position) % space.voices
    step = (positions - space.first_position) // space.voices
    if soprano is not None:
        for s, cls in enumerate(np.asarray(soprano, np.int64)):  # the given melody, forced
            row = space.first_position + s * space.voices
            if row < len(table):
                table[row] = FORBIDDEN
                table[row, cls] = 0.0
    if controls.wants_tonic_ending:
        total_steps = int(step.max()) + 1 if len(step) else 0
        last_bar = max(total_steps - steps_per_bar, (primer_len - space.first_position)
                       // space.voices)
        triad = {controls.tonic, (controls.tonic + (3 if _is_minor(controls) else 4)) % 12,
                 (controls.tonic + 7) % 12}
        in_triad = np.isin(pitches % 12, list(triad)) & ok
        in_triad[0] = False
        rows_of = {v: positions[(voice == v) & (step >= last_bar) & (positions >= primer_len)]
                   for v in range(space.voices)}
        tonics = [c for c in range(1, num_classes) if ok[c] and pitches[c] % 12 == controls.tonic]
        if not tonics:
            raise ControlError("the tonic is outside the chorale's pitch range")
        # Soprano and bass land on the tonic (the soprano only when free: a harmonized
        # melody ends where it ends), the soprano near G4, the bass near C3; alto and
        # tenor on the tonic triad between them, so the final chord does not cross.
        bass = min(tonics, key=lambda c: (abs(pitches[c] - 48), pitches[c]))
        if soprano is None:
            top = min(tonics, key=lambda c: (abs(pitches[c] - 67), -pitches[c]))
            top_pitch = pitches[top]
        else:
            sung = [int(cls) for s, cls in enumerate(np.asarray(soprano)) if cls
                    and s >= last_bar] or [int(c) for c in np.asarray(soprano) if c]
            top, top_pitch = None, min(pitches[c] for c in sung) if sung else 127
        for v, rows in rows_of.items():
            if not len(rows) or (v == 0 and top is None):  # a given soprano stays as given
                continue
            if v == 0 and top is not None or v == space.voices - 1:
                chosen = top if v == 0 else bass
                table[rows] = FORBIDDEN
                table[rows, chosen] = 0.0
            elif v < space.voices - 1:
                inner = in_triad & (pitches < top_pitch) & (pitches > pitches[bass])
                if not inner[1:].any():
                    raise ControlError("no tonic-triad pitch fits between the soprano and "
                                       "the bass for the final chord")
                table[np.ix_(rows, ~inner)] = FORBIDDEN


def _performance(space, controls, table, primer_len, steps_per_bar):
    first, last = space.note_on_ids
    ids = np.arange(first, last + 1)
    ok = _pitch_allowed(controls, space.min_pitch + ids - first)
    table[:, ids[~ok]] = FORBIDDEN


def _multitrack(space, controls, table, primer_len, steps_per_bar):
    """After the prefix: no prefix classes, no note of an instrument not asked for, and
    the pitch controls on every pitched instrument's note-ons (drums keep theirs)."""
    first, last = space.prefix_ids
    table[primer_len:, first:last + 1] = FORBIDDEN
    wanted = None
    if controls.instruments is not None:
        wanted = {theory.INSTRUMENT_FAMILIES.index(name) for name in controls.instruments}
    for instrument, ranges in enumerate(space.instrument_ids):
        if wanted is not None and instrument not in wanted:
            for low, high in ranges:
                table[primer_len:, low:high + 1] = FORBIDDEN
        elif instrument != theory.INSTRUMENT_FAMILIES.index("drums"):
            low, high = ranges[0]
            ids = np.arange(low, high + 1)
            ok = _pitch_allowed(controls, space.min_pitch + ids - low)
            table[primer_len:, ids[~ok]] = FORBIDDEN


def _density(space, controls, total, steps_per_bar):
    if controls.density is None or space.kind not in DENSITY_NOTES_PER_BAR:
        return np.zeros(total, np.float32), 0.0
    per_bar = (DENSITY_NOTES_PER_BAR[space.kind][controls.density]
               if isinstance(controls.density, str) else float(controls.density))
    positions = np.arange(total, dtype=np.float32) - space.first_position
    return np.maximum(positions, 0) * per_bar / steps_per_bar, DENSITY_STRENGTH


def make_bias_fn(space):
    """fn(controls tensors, history [R, T], length) -> bias [R, num_classes], for the loop."""
    import tensorflow as tf
    onset = tf.constant(np.append(space.onset_mask(), 0.0), tf.float32)  # + start symbol
    num_base, distances = space.num_base, tuple(space.repeat_distances)

    def bias(controls, history, length):
        row = controls["table"][length]                                    # [K]
        rows = tf.shape(history)[0]
        base = tf.tile(row[None, :], [rows, 1])
        if "target" in controls:  # density: steer by how far behind or ahead the notes are
            known = tf.minimum(history[:, :length], num_base)  # a start symbol counts as 0
            made = tf.reduce_sum(tf.gather(onset, known), axis=1)          # [R] notes so far
            gap = tf.clip_by_value(controls["target"][length] - made, -4.0, 4.0)
            base += controls["strength"] * gap[:, None] * onset[None, :num_base]
        if not distances:
            return base
        extra = []
        for distance in distances:  # the bias of the event each repeat class resolves to
            back = length - distance
            looked = tf.where(back >= 0, history[:, tf.maximum(back, 0)], space.default_id)
            extra.append(tf.gather(base, tf.minimum(looked, num_base - 1), batch_dims=1))
        return tf.concat([base, tf.stack(extra, axis=1)], axis=1)

    return bias
