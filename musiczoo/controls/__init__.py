"""Musical controls: what a musician asks for, as data every family obeys.

    controls = Controls.parse(key="D minor", bars=16, qpm=80, density="low")
    model.generate(3, controls=controls, seed=1)

A Controls value is a frozen dataclass: it knows music (scales, pitch sets, bars), not
models. A family's codec turns it into a per-step additive bias over its classes
(musiczoo.controls.masks) that the one compiled sampling loop adds to the logits, so hard
controls hold by construction; every output is then measured on its decoded NoteSequence
(musiczoo.controls.compliance), never trusted from the mask.
"""
import dataclasses
from typing import Optional

from musiczoo.controls import theory
from musiczoo.controls.theory import ControlError  # noqa: F401  (the public error type)

DENSITY_WORDS = ("low", "medium", "high")


@dataclasses.dataclass(frozen=True)
class Controls:
    key: Optional[tuple] = None             # (tonic pitch class, scale name)
    pitch_set: Optional[frozenset] = None   # allowed pitch classes
    pitch_range: Optional[tuple] = None     # (low, high) MIDI pitches, both included
    bars: Optional[int] = None              # exact length in bars
    time_signature: tuple = (4, 4)
    qpm: Optional[float] = None             # tempo written in the file
    density: Optional[object] = None        # "low" | "medium" | "high" | notes per bar
    instrument: Optional[int] = None        # General MIDI program for every pitched track
    drums: Optional[frozenset] = None       # allowed drum classes (theory.DRUM_CLASSES)
    end_on_tonic: bool = True               # with a key: the last note is the tonic
    harmonize: Optional[object] = None      # chorale: the soprano to keep (path/NoteSequence)
    attributes: tuple = ()                  # MusicVAE: ((attribute, amount), ...) latent moves
    style: Optional[str] = None             # multi-instrument models: a style they know
    instruments: Optional[tuple] = None     # multi-instrument models: the instrument families
                                            # that play (theory.INSTRUMENT_FAMILIES names)

    def __post_init__(self):
        if self.bars is not None and (not isinstance(self.bars, int) or isinstance(self.bars, bool)
                                      or not 1 <= self.bars <= 1024):
            raise ControlError(f"bars must be a whole number in 1..1024, got {self.bars!r}")
        if self.qpm is not None and not 1 <= float(self.qpm) <= 1000:
            raise ControlError(f"qpm (tempo) must be in 1..1000 beats per minute, got {self.qpm!r}")
        if isinstance(self.density, str) and self.density not in DENSITY_WORDS:
            raise ControlError(f"density must be low, medium, high or notes per bar, got "
                               f"{self.density!r}")
        if isinstance(self.density, (int, float)) and not 0 < float(self.density) <= 64:
            raise ControlError(f"density must be in (0, 64] notes per bar, got {self.density!r}")
        if self.pitch_classes() is not None and not self.pitch_classes():
            raise ControlError(f"{self.describe_pitches()} have no pitch class in common: "
                               "nothing could be played")

    @classmethod
    def parse(cls, *, key=None, scale=None, pitch_set=None, pitch_range=None, bars=None,
              time_signature=None, qpm=None, density=None, instrument=None, drums=None,
              end_on_tonic=True, harmonize=None, attribute=None, style=None, instruments=None):
        """Controls from flag-style text ('D minor', 'A,B,C#', '55:79', '3/4', 'flute', ...)."""
        parsed_key = None
        if key:
            parsed_key = theory.key(key)
            if scale:  # --scale refines the key's mode: D + harmonic_minor
                parsed_key = (parsed_key[0], theory.scale_name(scale))
        elif scale:
            raise ControlError("--scale needs a --key to give its tonic (e.g. --key=D "
                               "--scale=harmonic_minor)")
        if isinstance(density, str) and density not in DENSITY_WORDS:
            try:
                density = float(density)
            except ValueError:
                raise ControlError(f"density must be low, medium, high or notes per bar, got "
                                   f"{density!r}") from None
        return cls(
            key=parsed_key,
            pitch_set=theory.pitch_set(pitch_set) if pitch_set else None,
            pitch_range=theory.pitch_range(pitch_range) if pitch_range else None,
            bars=int(bars) if bars is not None else None,
            time_signature=theory.time_signature(time_signature) if time_signature else (4, 4),
            qpm=float(qpm) if qpm is not None else None, density=density,
            instrument=theory.instrument(instrument) if instrument not in (None, "") else None,
            drums=theory.drum_classes(drums) if drums else None,
            end_on_tonic=bool(end_on_tonic), harmonize=harmonize,
            attributes=_attributes(attribute),
            style=theory.style_name(style) if style not in (None, "") else None,
            instruments=theory.instrument_families(instruments) if instruments else None)

    # -- what the controls mean ----------------------------------------------------------

    def pitch_classes(self):
        """The pitch classes allowed (key scale and pitch set together), None if any."""
        allowed = None
        if self.key is not None:
            allowed = theory.scale_pitch_classes(*self.key)
        if self.pitch_set is not None:
            allowed = self.pitch_set if allowed is None else allowed & self.pitch_set
        return allowed

    def allows_pitch(self, pitch):
        classes = self.pitch_classes()
        if classes is not None and pitch % 12 not in classes:
            return False
        if self.pitch_range is not None and not self.pitch_range[0] <= pitch <= self.pitch_range[1]:
            return False
        return True

    @property
    def tonic(self):
        return self.key[0] if self.key is not None else None

    @property
    def wants_tonic_ending(self):
        return self.key is not None and self.end_on_tonic

    def describe_pitches(self):
        parts = []
        if self.key is not None:
            parts.append(f"the key {theory.key_name(*self.key)}")
        if self.pitch_set is not None:
            parts.append(f"the pitch set {theory.pitch_class_names(self.pitch_set)}")
        return " and ".join(parts) or "no pitch control"

    def transposed(self, semitones):
        """The same controls `semitones` higher (keys, pitch sets and ranges move)."""
        if not semitones:
            return self
        change = {}
        if self.key is not None:
            change["key"] = ((self.key[0] + semitones) % 12, self.key[1])
        if self.pitch_set is not None:
            change["pitch_set"] = frozenset((c + semitones) % 12 for c in self.pitch_set)
        if self.pitch_range is not None:
            change["pitch_range"] = (self.pitch_range[0] + semitones,
                                     self.pitch_range[1] + semitones)
        return dataclasses.replace(self, **change)

    def home_shift(self):
        """Semitones (-5..6) from C major to these controls' key: the key's relative major,
        or for a pitch set the major key holding most of it. Models trained on melodies
        transposed to C (Magenta's melody configs) are run in C and moved by this."""
        if self.key is not None:
            major = (self.key[0] - theory.RELATIVE_MAJOR_OFFSET.get(self.key[1], 0)) % 12
        elif self.pitch_set is not None:
            major = max(range(12), key=lambda k: (
                len(self.pitch_set & theory.scale_pitch_classes(k, "major")), -k))
        else:
            return 0
        return major if major <= 6 else major - 12

    def is_empty(self):
        return self == Controls()

    def as_dict(self):
        """A JSON-able description (compose.json, reports)."""
        out = {}
        if self.key is not None:
            out["key"] = theory.key_name(*self.key)
        if self.pitch_set is not None:
            out["pitch_set"] = theory.pitch_class_names(self.pitch_set)
        if self.pitch_range is not None:
            out["pitch_range"] = list(self.pitch_range)
        for name in ("bars", "qpm", "density", "instrument", "style"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.time_signature != (4, 4):
            out["time_signature"] = "/".join(map(str, self.time_signature))
        if self.drums is not None:
            out["drums"] = [theory.DRUM_CLASSES[i] for i in sorted(self.drums)]
        if self.key is not None:
            out["end_on_tonic"] = self.end_on_tonic
        if self.harmonize is not None:
            out["harmonize"] = str(getattr(self.harmonize, "filename", "") or self.harmonize)
        if self.instruments is not None:
            out["instruments"] = list(self.instruments)
        if self.attributes:
            out["attributes"] = {name: amount for name, amount in self.attributes}
        return out


def _attributes(text):
    if not text:
        return ()
    if isinstance(text, (tuple, list)):
        return tuple(text)
    return theory.attributes(text)
