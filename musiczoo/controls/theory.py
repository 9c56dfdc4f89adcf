"""Names musicians use -> numbers: keys and modes, scales, pitch classes and pitches,
General MIDI instruments, drum kit pieces. Every parser raises ControlError saying what
it accepts; nothing here knows about models.
"""
import difflib
import re

PITCH_CLASSES = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
FLAT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
# Keys whose signatures use flats (major tonics; minor/modal keys are spelled via their
# relative major).
_FLAT_MAJORS = {5, 10, 3, 8, 1, 6}

# Scale steps from the tonic. "minor" is the natural minor (aeolian), as on a key signature.
SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "melodic_minor": (0, 2, 3, 5, 7, 9, 11),
    "ionian": (0, 2, 4, 5, 7, 9, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "aeolian": (0, 2, 3, 5, 7, 8, 10),
    "locrian": (0, 1, 3, 5, 6, 8, 10),
    "major_pentatonic": (0, 2, 4, 7, 9),
    "minor_pentatonic": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10),
}
MODES = ("major", "minor", "ionian", "dorian", "phrygian", "lydian", "mixolydian", "aeolian",
         "locrian")
_SCALE_ALIASES = {"natural_minor": "minor", "pentatonic": "major_pentatonic",
                  "major_pent": "major_pentatonic", "minor_pent": "minor_pentatonic",
                  "harmonic": "harmonic_minor", "melodic": "melodic_minor", "maj": "major",
                  "min": "minor", "m": "minor"}

# Magenta's 9 drum classes (note_seq's DEFAULT_DRUM_TYPE_PITCHES order).
DRUM_CLASSES = ("kick", "snare", "closed_hihat", "open_hihat", "low_tom", "mid_tom",
                "high_tom", "crash", "ride")
_DRUM_ALIASES = {"bass_drum": "kick", "bd": "kick", "sd": "snare", "hihat": "closed_hihat",
                 "hi_hat": "closed_hihat", "hh": "closed_hihat", "closed_hi_hat": "closed_hihat",
                 "open_hi_hat": "open_hihat", "tom": "mid_tom", "toms": "mid_tom",
                 "cymbal": "crash", "crash_cymbal": "crash", "ride_cymbal": "ride",
                 "clap": "snare", "rim": "snare"}


class ControlError(ValueError):
    """A control that cannot be understood or obeyed; the message says why."""


def _suggest(word, choices):
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def pitch_class(name):
    """'C#' / 'Db' / 'c sharp' / 'b-flat' -> 0..11."""
    text = str(name).strip().lower().replace("♯", "#").replace("♭", "b")
    text = re.sub(r"[\s-]*(sharp)$", "#", text)
    text = re.sub(r"[\s-]*(flat)$", "b", text)
    match = re.fullmatch(r"([a-g])([#b]*)", text)
    if not match:
        raise ControlError(f"{name!r} is not a pitch class (C, C#, Db, ..., B)")
    letter, accidentals = match.groups()
    return (PITCH_CLASSES[letter] + accidentals.count("#") - accidentals.count("b")) % 12


def pitch_set(text):
    """'A,B,C#,F#,G' -> frozenset of pitch classes."""
    names = [part for part in re.split(r"[,\s]+", str(text).strip()) if part]
    if not names:
        raise ControlError("the pitch set is empty: give pitch classes such as A,B,C#,F#,G")
    return frozenset(pitch_class(name) for name in names)


def pitch(text):
    """'60' or 'C4' (middle C = C4 = 60) -> MIDI pitch 0..127."""
    value = str(text).strip()
    if re.fullmatch(r"-?\d+", value):
        number = int(value)
    else:
        match = re.fullmatch(r"([A-Ga-g][#b]*)(-?\d)", value)
        if not match:
            raise ControlError(f"{text!r} is not a pitch: give a MIDI number (60) or a name "
                               "with its octave (C4 = 60)")
        number = pitch_class(match.group(1)) + 12 * (int(match.group(2)) + 1)
    if not 0 <= number <= 127:
        raise ControlError(f"pitch {text!r} is outside MIDI's 0..127")
    return number


def pitch_range(text):
    """'55:79' or 'G3:G5' -> (low, high), both included."""
    parts = re.split(r"\s*(?::|-|\.\.|to)\s*", str(text).strip())
    if len(parts) != 2:
        raise ControlError(f"pitch range {text!r}: give low:high, e.g. 55:79 or G3:G5")
    low, high = pitch(parts[0]), pitch(parts[1])
    if low > high:
        raise ControlError(f"pitch range {text!r}: the low end is above the high end")
    return low, high


def scale_name(text):
    word = re.sub(r"[\s-]+", "_", str(text).strip().lower())
    word = _SCALE_ALIASES.get(word, word)
    if word not in SCALES:
        raise ControlError(f"unknown scale or mode {text!r}{_suggest(word, SCALES)}; known: "
                           f"{', '.join(SCALES)}")
    return word


def key(text):
    """'D minor', 'F# dorian', 'Bb', 'a minor', 'Em' -> (tonic pitch class, scale name)."""
    value = str(text).strip()
    match = re.fullmatch(r"([A-Ga-g](?:[#b♯♭]|\s*(?:sharp|flat))?)\s*(m(?=$)|[A-Za-z _-]*)",
                         value)
    if not match or not value:
        raise ControlError(f"{text!r} is not a key: give a tonic and a mode, e.g. 'D minor', "
                           "'F# dorian', 'Bb major'")
    tonic = pitch_class(match.group(1))
    mode = match.group(2).strip() or "major"
    return tonic, scale_name(mode)


def scale_pitch_classes(tonic, scale):
    return frozenset((tonic + step) % 12 for step in SCALES[scale])


RELATIVE_MAJOR_OFFSET = {"minor": 9, "aeolian": 9, "harmonic_minor": 9, "melodic_minor": 9,
                          "minor_pentatonic": 9, "blues": 9, "dorian": 2, "phrygian": 4,
                          "lydian": 5, "mixolydian": 7, "locrian": 11}


def uses_flats(tonic, scale):
    """Whether the key's signature is written with flats (via its relative major)."""
    return (tonic - RELATIVE_MAJOR_OFFSET.get(scale, 0)) % 12 in _FLAT_MAJORS


def key_name(tonic, scale):
    names = FLAT_NAMES if uses_flats(tonic, scale) else SHARP_NAMES
    return f"{names[tonic]} {scale.replace('_', ' ')}"


def pitch_class_names(classes, tonic=None, scale=None):
    flats = tonic is not None and scale is not None and uses_flats(tonic, scale)
    names = FLAT_NAMES if flats else SHARP_NAMES
    return ",".join(names[c] for c in sorted(classes))


def instrument(text):
    """'flute' / 'Acoustic Grand Piano' / '73' -> General MIDI program 0..127."""
    import pretty_midi
    value = str(text).strip()
    if re.fullmatch(r"\d+", value):
        number = int(value)
        if not 0 <= number <= 127:
            raise ControlError(f"GM program {number} is outside 0..127")
        return number
    names = {pretty_midi.program_to_instrument_name(p).lower(): p for p in range(128)}
    wanted = re.sub(r"[_\s]+", " ", value.lower())
    if wanted in names:
        return names[wanted]
    # A word users say for a family ("piano", "violin", "guitar"): the first GM program
    # whose name contains it.
    for name, program in names.items():
        if re.search(rf"\b{re.escape(wanted)}\b", name):
            return program
    raise ControlError(f"unknown instrument {text!r}{_suggest(wanted, names)}; give a General "
                       "MIDI name (flute, acoustic grand piano, violin, ...) or program 0..127")


# General MIDI's 16 program families (program // 8), then the drum kit: the instruments of
# multi-instrument models (the same order as their codec's).
INSTRUMENT_FAMILIES = ("piano", "chromatic_percussion", "organ", "guitar", "bass", "strings",
                       "ensemble", "brass", "reed", "pipe", "synth_lead", "synth_pad",
                       "synth_effects", "ethnic", "percussive", "sound_effects", "drums")
_FAMILY_WORDS = {"drum": "drums", "drum_kit": "drums", "kit": "drums", "percussion": "drums",
                 "choir": "ensemble", "voice": "ensemble", "voices": "ensemble",
                 "vocals": "ensemble", "keys": "piano", "keyboard": "piano",
                 "horns": "brass", "horn": "brass", "synth": "synth_lead", "lead": "synth_lead",
                 "pad": "synth_pad", "pads": "synth_pad", "sax": "reed", "saxophone": "reed",
                 "winds": "reed", "string": "strings", "vibes": "chromatic_percussion",
                 "mallets": "chromatic_percussion", "bassline": "bass", "upright_bass": "bass",
                 "double_bass": "bass", "walking_bass": "bass"}


def instrument_family(text):
    """'piano' / 'drums' / 'violin' / 'walking bass' / '33' -> an INSTRUMENT_FAMILIES name."""
    word = re.sub(r"[\s-]+", "_", str(text).strip().lower())
    for candidate in (word, word[:-1] if word.endswith("s") else word):
        if candidate in INSTRUMENT_FAMILIES:
            return candidate
        if candidate in _FAMILY_WORDS:
            return _FAMILY_WORDS[candidate]
    try:
        return INSTRUMENT_FAMILIES[instrument(word.replace("_", " ")) // 8]
    except ControlError:
        pass
    if word.endswith("s"):
        try:
            return INSTRUMENT_FAMILIES[instrument(word[:-1].replace("_", " ")) // 8]
        except ControlError:
            pass
    raise ControlError(f"unknown instrument {text!r}; give a family "
                       f"({', '.join(INSTRUMENT_FAMILIES)}) or a General MIDI name")


def instrument_families(text):
    """'piano, bass and drums' (or a list) -> the families, in INSTRUMENT_FAMILIES order."""
    items = (re.split(r"\s*(?:,|\band\b|\+|&)\s*", text) if isinstance(text, str)
             else list(text))
    names = {instrument_family(item) for item in items if str(item).strip()}
    if not names:
        raise ControlError(f"no instrument in {text!r}")
    return tuple(name for name in INSTRUMENT_FAMILIES if name in names)


def style_name(text):
    """'Bossa Nova' -> 'bossa_nova' (the form models name their styles in)."""
    name = re.sub(r"[\s-]+", "_", str(text).strip().lower())
    if not re.fullmatch(r"[a-z0-9_]{1,40}", name):
        raise ControlError(f"a style is a name such as rock, swing or bossa_nova; got {text!r}")
    return name


def drum_classes(text):
    """'kick,snare,closed_hihat' -> frozenset of drum class indices (DRUM_CLASSES)."""
    found = set()
    for part in re.split(r"[,\s]+", str(text).strip()):
        if not part:
            continue
        word = re.sub(r"[-\s]+", "_", part.lower())
        word = _DRUM_ALIASES.get(word, word)
        if word not in DRUM_CLASSES:
            raise ControlError(f"unknown drum {part!r}{_suggest(word, DRUM_CLASSES)}; known: "
                               f"{', '.join(DRUM_CLASSES)}")
        found.add(DRUM_CLASSES.index(word))
    if not found:
        raise ControlError("the drum list is empty: give e.g. kick,snare,closed_hihat")
    return frozenset(found)


def time_signature(text):
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not match:
        raise ControlError(f"{text!r} is not a time signature: give e.g. 4/4 or 3/4")
    numerator, denominator = int(match.group(1)), int(match.group(2))
    if not 1 <= numerator <= 32 or denominator not in (1, 2, 4, 8, 16):
        raise ControlError(f"time signature {text!r} is not one a score can have")
    return numerator, denominator


# MusicVAE attribute names (musiczoo.models.music_vae.attributes) and what users call them.
ATTRIBUTE_ALIASES = {"density": "note_density", "range": "pitch_range", "pitch": "register",
                     "height": "register", "syncopated": "syncopation"}


def attributes(text):
    """'density:+1.5,register:-1' -> (("note_density", 1.5), ("register", -1.0))."""
    found = []
    for part in str(text).split(","):
        if not part.strip():
            continue
        name, sep, amount = part.partition(":")
        name = ATTRIBUTE_ALIASES.get(name.strip().lower(), name.strip().lower())
        try:
            value = float(amount) if sep else 1.0
        except ValueError:
            raise ControlError(f"--attribute {part!r}: give name:amount, e.g. density:+1.5"
                               ) from None
        if not -5 <= value <= 5:
            raise ControlError(f"--attribute {part!r}: amounts beyond +-5 vectors leave the "
                               "latent space the model knows")
        found.append((name, value))
    return tuple(found)
