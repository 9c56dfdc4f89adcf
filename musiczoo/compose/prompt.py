"""Text-like prompts -> a plan: which bundle, which controls, how many variations, what form.

    compile_prompt("calm folk melody in D minor, 80 bpm, 16 bars, AABA, 3 variations")

Deterministic, documented, no network and no hidden model: every rule is in the tables
below (README "Prompts" lists them). Words it does not know are reported as ignored;
close misspellings of known words ("minr", "chorall") are read as the word and reported;
contradictions (two keys, two bar counts) are refused with both named.
"""
import dataclasses
import difflib
import re

from musiczoo.controls import ControlError, theory

NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                "eight": 8, "nine": 9, "ten": 10, "twelve": 12, "sixteen": 16,
                "thirty-two": 32, "a": 1, "an": 1}

# Style words -> the shipped bundle that plays it.
STYLES = {
    "folk": "lookback_rnn", "reel": "lookback_rnn", "jig": "lookback_rnn",
    "tune": "lookback_rnn", "ballad": "lookback_rnn", "song": "lookback_rnn",
    "melody": "lookback_rnn", "fiddle": "lookback_rnn", "celtic": "lookback_rnn",
    "irish": "lookback_rnn",
    "chorale": "chorale_transformer", "hymn": "chorale_transformer",
    "bach": "chorale_transformer", "choir": "chorale_transformer",
    "satb": "chorale_transformer", "harmony": "chorale_transformer",
    "four-part": "chorale_transformer",
    "beat": "drum_kit_rnn", "groove": "drum_kit_rnn", "drums": "drum_kit_rnn",
    "drum": "drum_kit_rnn", "rock": "drum_kit_rnn", "funk": "drum_kit_rnn",
    "rhythm": "drum_kit_rnn", "percussion": "drum_kit_rnn",
    "loop": "cat-drums_2bar_small",
}
DEFAULT_BUNDLE = "lookback_rnn"
MULTITRACK_BUNDLE = "multitrack_transformer"

# Style words -> the multi-instrument bundle's style. Those also in STYLES (rock, folk,
# ...) go to the multi-instrument bundle only when the prompt asks for several
# instruments or a band; the others always do.
MULTITRACK_STYLES = {
    "rock": "rock", "pop": "pop", "ballad": "ballad", "swing": "swing", "bigband": "swing",
    "jazz": "jazz", "bebop": "jazz", "dixieland": "jazz", "ragtime": "jazz",
    "waltz": "waltz", "bossa": "bossa_nova", "latin": "latin", "samba": "latin",
    "salsa": "latin", "mambo": "latin", "rhumba": "latin", "rumba": "latin",
    "cha-cha": "latin", "merengue": "latin", "bolero": "latin", "calypso": "latin",
    "tango": "tango", "blues": "blues", "boogie": "blues", "country": "country",
    "bluegrass": "country", "western": "country", "funk": "funk_soul", "soul": "funk_soul",
    "r&b": "funk_soul", "march": "march", "polka": "march", "chorale": "chorale",
    "hymn": "chorale", "renaissance": "renaissance", "palestrina": "renaissance",
    "madrigal": "renaissance", "motet": "renaissance", "medieval": "medieval",
    "trecento": "medieval", "quartet": "string_quartet", "classical": "string_quartet",
    "folk": "folk", "game": "game", "chiptune": "game"}
MULTITRACK_PHRASES = {"bossa nova": "bossa_nova", "jazz waltz": "jazz_waltz",
                      "string quartet": "string_quartet", "big band": "swing",
                      "video game": "game", "rhythm and blues": "funk_soul"}
# Styles whose music is in another meter than 4/4.
MULTITRACK_METERS = {"waltz": "3/4", "jazz_waltz": "3/4"}
ENSEMBLE_WORDS = {"band", "ensemble", "trio", "combo", "orchestra", "arrangement", "group",
                  "backing", "accompaniment", "track"}

# Mood words -> what they set (a prompt's explicit numbers and keys win over these).
MOODS = {
    "calm": {"qpm": 80, "temperature": 0.8, "density": "low"},
    "gentle": {"qpm": 80, "temperature": 0.8, "density": "low"},
    "peaceful": {"qpm": 72, "temperature": 0.8, "density": "low"},
    "relaxed": {"qpm": 84, "temperature": 0.85, "density": "low"},
    "slow": {"qpm": 70},
    "happy": {"mode": "major", "qpm": 120, "density": "medium"},
    "cheerful": {"mode": "major", "qpm": 126, "density": "medium"},
    "bright": {"mode": "major", "register": "high"},
    "sad": {"mode": "minor", "qpm": 68, "density": "low", "register": "low"},
    "melancholy": {"mode": "minor", "qpm": 72, "density": "low"},
    "dark": {"mode": "minor", "register": "low"},
    "mysterious": {"mode": "dorian", "temperature": 0.9},
    "energetic": {"qpm": 140, "density": "high", "temperature": 1.0},
    "lively": {"qpm": 132, "density": "high"},
    "upbeat": {"qpm": 128, "density": "high"},
    "fast": {"qpm": 150},
    "busy": {"density": "high"}, "dense": {"density": "high"},
    "sparse": {"density": "low"}, "simple": {"density": "low", "temperature": 0.8},
    "high": {"register": "high"}, "low": {"register": "low"},
}
TEMPO_WORDS = {"largo": 50, "adagio": 70, "andante": 90, "moderato": 110, "allegro": 140,
               "vivace": 160, "presto": 180}
REGISTERS = {"high": "67:91", "low": "43:64"}
METER_WORDS = {"waltz": (3, 4), "march": (2, 4), "jig": (6, 8)}
FORM_WORDS = {"verse/chorus": "ABAB", "verse-chorus": "ABAB", "rondo": "ABACA",
              "binary": "AB", "ternary": "ABA"}
# Words a prompt needs but that say nothing (articles, "in", ...): never reported.
FILLER = {"in", "at", "of", "with", "and", "a", "an", "the", "for", "please", "make", "write",
          "me", "some", "piece", "music", "generate", "compose", "give", "that", "only",
          "uses", "use", "using", "notes", "note", "key", "tempo", "style", "form", "by",
          "like", "to", "on", "instrument", "played", "bpm", "qpm", "bars", "bar", "time",
          "variation", "variations", "version", "versions", "sharp", "flat", "pitches",
          "strong", "over", "featuring", "plus"}


class PromptError(ControlError):
    """A prompt that cannot be compiled (two keys, two lengths, ...)."""


@dataclasses.dataclass
class PromptPlan:
    bundle: str = DEFAULT_BUNDLE
    controls: dict = dataclasses.field(default_factory=dict)  # Controls.parse keywords
    num_variations: int = 4
    form: str = ""
    temperature: float = 1.0
    understood: list = dataclasses.field(default_factory=list)
    ignored: list = dataclasses.field(default_factory=list)
    corrected: list = dataclasses.field(default_factory=list)
    # Collected while reading; _finish decides between one instrument and an ensemble.
    multitrack_styles: list = dataclasses.field(default_factory=list, repr=False)
    multitrack_words: list = dataclasses.field(default_factory=list, repr=False)
    instrument_words: list = dataclasses.field(default_factory=list, repr=False)
    ensemble: bool = dataclasses.field(default=False, repr=False)

    def summary(self):
        text = "understood: " + (", ".join(self.understood) or "nothing")
        if self.corrected:
            text += "; read " + ", ".join(self.corrected)
        if self.ignored:
            text += "; ignored: " + ", ".join(repr(w) for w in self.ignored)
        return text


_KEY = re.compile(r"\b([A-Ga-g](?:#|b|♯|♭)?(?:\s+(?:sharp|flat))?)\s*-?\s*"
                  r"(major|minor|dorian|phrygian|lydian|mixolydian|aeolian|locrian|ionian|"
                  r"harmonic minor|melodic minor|pentatonic|blues|maj|min|m)\b")
_PITCH_LIST = re.compile(r"\b(?:only\s+)?(?:uses?|using|notes?|pitches)\s+(?:only\s+)?"
                         r"((?:[A-G](?:#|b)?\s*(?:,|and)?\s*){2,12})")


def _number(text):
    text = text.lower()
    return int(text) if text.isdigit() else NUMBER_WORDS.get(text)


def compile_prompt(prompt):
    """The PromptPlan of a prompt (see the module docstring and the tables above)."""
    plan = PromptPlan()
    text = " " + str(prompt).strip() + " "
    if not text.strip():
        raise PromptError("the prompt is empty: describe the music, e.g. 'calm folk melody "
                          "in D minor, 80 bpm, 16 bars'")
    text, plan.corrected = _corrected(text)
    consumed = []

    def take(match):
        consumed.append(match.span())

    def once(field, value, label):
        if field in plan.controls and plan.controls[field] != value:
            raise PromptError(f"the prompt gives two {label}s: {plan.controls[field]} and "
                              f"{value}; keep one")
        plan.controls[field] = value

    # Pitch lists first: "only uses A, B, C#, F# and G" must not read "A" as a key.
    for match in _PITCH_LIST.finditer(text):
        names = re.findall(r"[A-G](?:#|b)?", match.group(1))
        once("pitch_set", ",".join(names), "pitch set")
        plan.understood.append(f"pitch set {','.join(names)}")
        take(match)
    for match in _KEY.finditer(text):
        if any(a <= match.start() < b for a, b in consumed):
            continue
        mode = {"maj": "major", "min": "minor", "m": "minor",
                "pentatonic": "major_pentatonic"}.get(match.group(2).lower(), match.group(2))
        try:
            tonic, scale = theory.key(f"{match.group(1)} {mode}")
        except ControlError:
            continue
        once("key", theory.key_name(tonic, scale), "key")
        plan.understood.append(theory.key_name(tonic, scale))
        take(match)
    for match in re.finditer(r"\bin\s+([A-G](?:#|b)?)(?=[\s,.;]|$)", text):
        if any(a <= match.start(1) < b for a, b in consumed):
            continue
        name = theory.key_name(theory.pitch_class(match.group(1)), "major")
        once("key", name, "key")
        plan.understood.append(f"{name} (a tonic alone is major)")
        take(match)
    for match in re.finditer(r"\b(\d{2,3})\s*(?:bpm|qpm|beats per minute)\b", text, re.I):
        once("qpm", float(match.group(1)), "tempo")
        plan.understood.append(f"{match.group(1)} BPM")
        take(match)
    for match in re.finditer(r"\b(\d+|[a-z-]+)[\s-]*bars?\b", text, re.I):
        bars = _number(match.group(1))
        if bars:
            once("bars", bars, "length")
            plan.understood.append(f"{bars} bars")
            take(match)
    for match in re.finditer(r"\b(\d+|[a-z]+)\s+(?:variations?|versions?|takes|options)\b",
                             text, re.I):
        count = _number(match.group(1))
        if count:
            plan.num_variations = count
            plan.understood.append(f"{count} variations")
            take(match)
    for match in re.finditer(r"\b(\d{1,2}/\d{1,2})\b", text):
        once("time_signature", match.group(1), "time signature")
        plan.understood.append(f"time {match.group(1)}")
        take(match)
    for match in re.finditer(r"\b([AB]{2,8}|ABAC[A]?|ABACA)\b", text):
        plan.form = match.group(1)
        plan.understood.append(f"form {plan.form}")
        take(match)
    for match in re.finditer(r"\b(\d{2,3})\s*:\s*(\d{2,3})\b", text):
        once("pitch_range", f"{match.group(1)}:{match.group(2)}", "pitch range")
        plan.understood.append(f"range {match.group(1)}:{match.group(2)}")
        take(match)
    for phrase, style in MULTITRACK_PHRASES.items():
        for match in re.finditer(rf"\b{phrase}\b", text, re.I):
            plan.multitrack_styles.append(style)
            plan.multitrack_words.append(phrase)
            take(match)
    rest = "".join(" " if any(a <= i < b for a, b in consumed) else ch
                   for i, ch in enumerate(text))
    _words(plan, rest, once)
    return _finish(plan)


_VOCABULARY = None


def _vocabulary():
    global _VOCABULARY
    if _VOCABULARY is None:
        words = set(STYLES) | set(MOODS) | set(TEMPO_WORDS) | set(METER_WORDS) | set(FILLER)
        words |= {w for phrase in FORM_WORDS for w in re.split(r"[/-]", phrase)}
        words |= set(theory.DRUM_CLASSES) | {"hihat", "hi-hat", "cymbal", "toms"}
        words |= set(_INSTRUMENT_WORDS) | {"major", "minor"} | set(theory.MODES)
        words |= set(MULTITRACK_STYLES) | ENSEMBLE_WORDS | set(_ENSEMBLE_INSTRUMENTS)
        _VOCABULARY = words
    return _VOCABULARY


_INSTRUMENT_WORDS = ("flute", "piano", "violin", "viola", "cello", "guitar", "clarinet",
                     "oboe", "bassoon", "trumpet", "trombone", "horn", "tuba", "organ",
                     "harp", "sax", "saxophone", "harpsichord", "accordion", "banjo",
                     "marimba", "xylophone", "vibraphone", "celesta", "recorder", "whistle",
                     "bagpipe", "fiddle", "strings", "choir", "synth", "bass")
# Instrument words that only make sense in an ensemble (bass line, drums, ...).
_ENSEMBLE_INSTRUMENTS = ("drums", "drum", "bassline", "brass", "horns", "keys", "pad",
                         "pads", "vocals", "voices", "violins", "guitars", "trumpets",
                         "saxophones", "percussion", "banjo", "vibes")
_INSTRUMENT_GM = {"sax": "alto sax", "saxophone": "alto sax", "strings": "string ensemble 1",
                  "synth": "lead 1 (square)", "whistle": "whistle", "fiddle": "fiddle",
                  "horn": "french horn", "bass": "acoustic bass", "recorder": "recorder",
                  "choir": "choir aahs", "organ": "church organ", "guitar":
                  "acoustic guitar (nylon)", "piano": "acoustic grand piano"}


def _corrected(text):
    """(text with close misspellings of known words replaced, ["'minr' as 'minor'", ...])."""
    notes = []

    def fix(match):
        raw = match.group(0)
        word = raw.lower()
        if len(word) <= 3 or word in _vocabulary() or word in NUMBER_WORDS:
            return raw
        close = difflib.get_close_matches(word, sorted(_vocabulary() - FILLER), n=1, cutoff=0.8)
        if not close:
            return raw
        notes.append(f"{raw!r} as {close[0]!r}")
        return close[0]
    return re.sub(r"[A-Za-z][A-Za-z'-]*", fix, text), notes


def _words(plan, text, once):
    drums, seen_styles = [], []
    for raw in re.findall(r"[A-Za-z][A-Za-z'/-]*", text):
        word = raw.lower().strip("'")
        if word in FORM_WORDS:
            plan.form = FORM_WORDS[word]
            plan.understood.append(f"form {plan.form} ({word})")
            continue
        if word not in _vocabulary() and word.replace("-", "") not in _vocabulary():
            plan.ignored.append(raw)
            continue
        if word in FILLER:
            continue
        if word in MULTITRACK_STYLES:
            plan.multitrack_styles.append(MULTITRACK_STYLES[word])
            plan.multitrack_words.append(word)
        if word in ENSEMBLE_WORDS:
            plan.ensemble = True
            continue
        if word in _INSTRUMENT_WORDS or word in _ENSEMBLE_INSTRUMENTS:
            plan.instrument_words.append(word)
        if word in STYLES:
            seen_styles.append(word)
        if word in MOODS:
            plan.understood.append(word)
            for field, value in MOODS[word].items():
                plan.controls.setdefault(f"_{field}", value)
        if word in TEMPO_WORDS:
            plan.controls.setdefault("_qpm", TEMPO_WORDS[word])
            plan.understood.append(f"{word} ({TEMPO_WORDS[word]} BPM)")
        if word in METER_WORDS:
            plan.controls.setdefault("time_signature", "/".join(map(str, METER_WORDS[word])))
            plan.understood.append(f"{word} ({'/'.join(map(str, METER_WORDS[word]))})")
        drum = {"hihat": "closed_hihat", "hi-hat": "closed_hihat", "cymbal": "crash",
                "toms": "mid_tom"}.get(word, word)
        if drum in theory.DRUM_CLASSES:
            drums.append(drum)
    families = []
    for word in plan.instrument_words:
        family = theory.instrument_family(_INSTRUMENT_GM.get(word, word))
        if family not in families:
            families.append(family)
    shared = set(STYLES) | set(METER_WORDS)
    only_multitrack = [w for w in plan.multitrack_words if w not in shared]
    if len(families) >= 2 or plan.ensemble or only_multitrack:
        _multitrack(plan, families, drums)
        return
    for word in plan.instrument_words:
        if word in _INSTRUMENT_WORDS and word not in ("drums", "bass") or (
                word == "bass" and "drum" not in text.lower()):
            program = theory.instrument(_INSTRUMENT_GM.get(word, word))
            once("instrument", program, "instrument")
            plan.understood.append(f"instrument {word} (GM {program})")
    if seen_styles:
        bundles = {STYLES[w] for w in seen_styles}
        # A drum "loop" is the VAE's; otherwise the first style named decides.
        bundle = STYLES[seen_styles[0]]
        if "cat-drums_2bar_small" in bundles and bundles <= {"drum_kit_rnn",
                                                              "cat-drums_2bar_small"}:
            bundle = "cat-drums_2bar_small"
        elif len(bundles) > 1 and not bundles <= {"drum_kit_rnn", "cat-drums_2bar_small"}:
            raise PromptError(f"the prompt names styles of different models: "
                              f"{', '.join(seen_styles)} ({', '.join(sorted(bundles))}); keep "
                              "one")
        plan.bundle = bundle
        plan.understood.append(f"style {seen_styles[0]} -> {bundle}")
    if drums:
        plan.controls["drums"] = ",".join(dict.fromkeys(drums))
        plan.understood.append("drums " + plan.controls["drums"])
        if plan.bundle not in ("drum_kit_rnn", "cat-drums_2bar_small"):
            plan.bundle = "drum_kit_rnn"


def _multitrack(plan, families, drums):
    """The multi-instrument bundle: its style (the first style word), the instruments named
    (drum names count as drums), the meter the style is in."""
    plan.bundle = MULTITRACK_BUNDLE
    styles = list(dict.fromkeys(plan.multitrack_styles))
    if len(styles) > 1:
        raise PromptError(f"the prompt names {len(styles)} styles: {', '.join(styles)}; "
                          "keep one")
    if styles:
        plan.controls["style"] = styles[0]
        meter = MULTITRACK_METERS.get(styles[0])
        if meter:
            plan.controls.setdefault("time_signature", meter)
    if drums and "drums" not in families:
        families.append("drums")
    featuring = len(families) == 1 and plan.ensemble
    if families and not featuring:
        ordered = [name for name in theory.INSTRUMENT_FAMILIES if name in families]
        plan.controls["instruments"] = ",".join(ordered)
    # "a track with a strong bassline": one instrument in a band is the band's, not a solo.
    plan.understood.append(
        f"{'style ' + styles[0] if styles else 'an ensemble'}"
        f"{(' featuring ' if featuring else ' for ') + ', '.join(families) if families else ''}"
        f" -> {MULTITRACK_BUNDLE}")


def _finish(plan):
    controls = plan.controls
    mode = controls.pop("_mode", None)
    register = controls.pop("_register", None)
    temperature = controls.pop("_temperature", None)
    qpm = controls.pop("_qpm", None)
    density = controls.pop("_density", None)
    drum_model = plan.bundle in ("drum_kit_rnn", "cat-drums_2bar_small")
    if "qpm" not in controls and qpm:
        controls["qpm"] = float(qpm)
    if density and "density" not in controls:
        controls["density"] = density
    if temperature:
        plan.temperature = temperature
    if drum_model:
        for field in ("key", "pitch_set", "pitch_range", "instrument"):
            if field in controls:
                plan.ignored.append(f"{field} {controls.pop(field)} (drums have no pitches)")
        return plan
    if mode and "key" not in controls and "pitch_set" not in controls:
        tonic = {"major": "C", "minor": "A", "dorian": "D"}.get(mode, "C")
        controls["key"] = f"{tonic} {mode}"
        plan.understood.append(f"{mode} mood -> {controls['key']}")
    elif mode and "key" in controls and mode in ("major", "minor") \
            and mode not in controls["key"] and "dorian" not in controls["key"]:
        plan.corrected.append(f"the {mode} mood word, as the key {controls['key']} says "
                              "otherwise")
    if register and "pitch_range" not in controls and plan.bundle not in (
            "chorale_transformer", MULTITRACK_BUNDLE):
        controls["pitch_range"] = REGISTERS[register]
    if plan.bundle == MULTITRACK_BUNDLE:
        # A key holds for every pitched part; the ending, the register and the density
        # are not this model's controls.
        controls.pop("density", None)
        if "key" in controls or "pitch_set" in controls:
            controls["end_on_tonic"] = False
    if plan.bundle == "chorale_transformer":
        controls.pop("instrument", None)
        if density and controls.get("density") == density:
            controls.pop("density")  # every voice sings at every step: no density to steer
    return plan
