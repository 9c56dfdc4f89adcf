"""The multitrack corpus: multi-style, multi-instrument MIDI built offline (issue 16).

Sources, all installed with the system or the venv (licences in MULTITRACK_LICENCES):
  * MMA's accompaniment library (Debian's `mma`): every groove of stdlib (and yamaha),
    less its intros, endings and fills, rendered over several chord progressions in
    different keys (transposition augmentation) at a tempo drawn from its style's range
    (tempo augmentation): drums, bass, chords, arpeggios, walking bass, strings, ...
    with their GM programs, labelled by groove style (rock, swing, bossa_nova, waltz, ...);
  * music21's corpus: the Bach chorales, Palestrina and Monteverdi (renaissance), the
    Trecento (medieval), the Beethoven/Mozart/Haydn string quartets, and a subset of the
    folk tunes (Essen + O'Neill's), part names mapped to GM programs;
  * Debian's Planet Blupi game music (`game`), when installed.

Output: <output_dir>/<style>/<source>__<name>.mid plus manifest.json, by default
data_dir()/multitrack. Every file has one tempo, one time signature, each part on its own
track with a program change, drums on channel 10. The style is the first folder, which is
what the training pipeline reads (extract.multitrack.style_of).
"""
import collections
import concurrent.futures
import json
import logging
import math
import multiprocessing
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import time
import warnings
import zlib

from note_seq.protobuf import music_pb2

from musiczoo.pipelines.readers.cache import built_corpus_dir, data_dir, music21_corpus_dir
from musiczoo.pipelines.readers.files import (content_key, default_workers, iter_music_files,
                                              read_files)
from musiczoo.pipelines.readers.midi import midi_bytes_to_sequence
from musiczoo.pipelines.stats import Stats
from musiczoo.progress import Progress

logger = logging.getLogger(__name__)

MULTITRACK_BUILD_COMMAND = (
    "apt-get install -y mma && python -c 'from musiczoo.pipelines.readers.multitrack "
    "import build_multitrack_corpus; build_multitrack_corpus()'")
MMA_LIBRARY_DIRS = ("/usr/share/mma/lib", "/usr/local/share/mma/lib")
PLANETBLUPI_DIR = "/usr/share/planetblupi/music"

MUSIC21_LICENCE = ("music21 corpus: free for non-commercial use per its licence notes "
                   "(corpus/license.txt, essenFolksong/license.txt)")
MULTITRACK_LICENCES = {
    "mma": "GPL-2+ (MMA groove library by Bob van der Poel and contributors; rendered MIDI "
           "keeps it)",
    "mma_yamaha": "GPL-2+ (MMA's yamaha library, machine-converted Yamaha styles, shipped "
                  "with MMA)",
    "bach": MUSIC21_LICENCE,
    "palestrina": MUSIC21_LICENCE,
    "monteverdi": MUSIC21_LICENCE,
    "trecento": MUSIC21_LICENCE,
    "beethoven": MUSIC21_LICENCE,
    "mozart": MUSIC21_LICENCE,
    "haydn": MUSIC21_LICENCE,
    "essen": MUSIC21_LICENCE + "; Essen: non-commercial use only",
    "oneills": MUSIC21_LICENCE + " (O'Neill's Music of Ireland, 1850, public domain)",
    "planetblupi": "GPL-3+ (Planet Blupi, (c) 1997 Daniel Roux, EPSITEC SA & Denis Dumoulin; "
                   "2017-2018 Mathieu Schroeter; Debian's planetblupi-music-midi)",
}

# ---------------------------------------------------------------------------------------
# MMA: library file -> style, tempo ranges, chord progressions

MMA_STYLES = {  # style folder -> MMA library files (stems; stdlib unless noted)
    "rock": ["50srock", "60srock", "basicrock", "bubblerock", "folkrock", "rock-128",
             "softrock", "twist", "yamaha/w-rock"],
    "pop": ["8beat", "boneym", "trance", "ska", "desert", "strut", "yamaha/quando-g.s280"],
    "ballad": ["ballad", "ballad128", "ballad68", "folkballad", "guitarballad", "pianoballad",
               "popballad", "rockballad", "stringballad", "lullaby", "hymn", "spiritual",
               "popspiritual", "slowspiritual"],
    "swing": ["swing", "easyswing", "fastswing", "bigband", "jive", "68swing", "quickstep",
              "foxtrot", "charleston", "broadway", "slowbroadway", "showtune", "softshoe",
              "yamaha/jazzswing", "yamaha/jazzbasie", "yamaha/jazzbouncy"],
    "jazz": ["bebop", "jazzcombo", "jazzguitar", "modernjazz", "nitejazz", "evansish",
             "mellowjazz", "descendingjazz", "jazzrock", "folkyjazz", "gypsyjazz", "dixie",
             "jazz-54", "slowjazz", "ragtime", "yamaha/jazztrio", "yamaha/jazzGrtrio"],
    "jazz_waltz": ["jazzwaltz", "fastjazzwaltz", "modernjazzwaltz", "yamaha/jazzwaltz"],
    "waltz": ["waltz", "fastwaltz", "frenchwaltz", "countrywaltz", "broadwaywaltz",
              "rockwaltz", "latinwaltz", "vienesewaltz"],
    "bossa_nova": ["bossanova", "yamaha/jazzbossa"],
    "latin": ["samba", "rhumba", "chacha", "mambo", "salsa", "merengue", "beguine", "bolero",
              "slowbolero", "afro-cuban", "calypso", "jazzrhumba", "cubanguitar", "son",
              "lfusion", "yamaha/mambo", "yamaha/salsa1", "yamaha/salsa2"],
    "tango": ["tango", "lighttango"],
    "blues": ["blues", "blues128", "blues68", "slowblues", "fastblues", "countryblues",
              "boggiewoggie", "shuffleboggie", "bluefolk"],
    "country": ["bluegrass", "countryswing", "slowcountry", "hillcountry", "westernswing",
                "zydeco", "folk", "yamaha/jazzcountry", "yamaha/western"],
    "funk_soul": ["bvfunk", "dsoul", "rb", "rb-ballad"],
    "march": ["march", "68march", "bwmarch", "dixiemarch", "polka"],
}
# Not rendered: test and click tracks (no band), the arpeggio demos.
MMA_SKIPPED_FILES = ("metronome", "metronome3", "metronome6", "metronome68", "none",
                     "arpeggio44", "arpeggio68", "arpeggiowaltz")
# Intros, endings, fills and breaks are 1-4 bar patterns meant to be played once; looped
# for 32 bars they are not an arrangement. Everything else is kept (Sus adds sustained
# strings/organ, Plus adds an arpeggio line, 1/2/Walk vary the band: real variants).
MMA_SKIPPED_GROOVES = re.compile(r"intro|end|fill|break", re.IGNORECASE)

STYLE_TEMPO = {  # written qpm (quarter notes; 6/8 is written as 3 quarters a bar)
    "rock": (100, 140), "pop": (96, 128), "ballad": (60, 80), "swing": (120, 200),
    "jazz": (110, 190), "jazz_waltz": (120, 180), "waltz": (90, 180), "bossa_nova": (110, 140),
    "latin": (100, 140), "tango": (110, 130), "blues": (80, 130), "country": (100, 150),
    "funk_soul": (90, 115), "march": (100, 120),
    # music21 pieces without a usable tempo mark
    "chorale": (60, 90), "renaissance": (100, 140), "medieval": (90, 130),
    "string_quartet": (80, 140), "folk": (90, 130), "game": (80, 160),
}
FILE_TEMPO = {  # library files whose name says their tempo
    "slowblues": (60, 80), "fastblues": (140, 180), "fastswing": (200, 260),
    "easyswing": (100, 140), "fastwaltz": (150, 200), "vienesewaltz": (160, 200),
    "fastjazzwaltz": (170, 220), "slowjazz": (60, 80), "slowbroadway": (60, 84),
    "slowcountry": (60, 84), "slowbolero": (60, 80), "rb-ballad": (60, 80),
    "bebop": (160, 240), "slowspiritual": (60, 76), "bluegrass": (130, 180),
    "quickstep": (180, 210), "charleston": (180, 220), "jive": (150, 180),
    "68swing": (40, 60), "ballad68": (30, 40), "blues68": (30, 45), "68march": (50, 60),
    "polka": (110, 130), "merengue": (120, 160), "samba": (90, 110), "lullaby": (60, 72),
    "boggiewoggie": (110, 150), "shuffleboggie": (100, 140), "ragtime": (90, 110),
}

# Chord progressions written in C major (or A minor), one bar per item; "X Y" is two
# chords, half a bar each. Transposed per section with MMA's Transpose.
PROGRESSIONS = {
    "I-vi-IV-V": ("major", ["C", "Am", "F", "G", "C", "Am", "F", "G7"]),
    "I-V-vi-IV": ("major", ["C", "G", "Am", "F", "C", "G", "Am", "F"]),
    "I-IV-I-V": ("major", ["C", "F", "C", "G", "C", "F", "G7", "C"]),
    "ii-V-I": ("major", ["Dm7", "G7", "Cmaj7", "A7", "Dm7", "G7", "C6", "C6"]),
    "jazz-7ths": ("major", ["Cmaj7", "A7", "Dm7", "G7", "Em7 A7", "Dm7 G7", "Cmaj7", "Dm7 G7"]),
    "rhythm": ("major", ["C A7", "Dm7 G7", "C A7", "Dm7 G7", "C C7", "F F#dim", "C G7", "C"]),
    "bossa": ("major", ["Cmaj7", "Cmaj7", "D7", "D7", "Dm7", "G7", "Cmaj7", "Dm7 G7"]),
    "minor-i-iv-V": ("minor", ["Am", "Dm", "E7", "Am", "F", "Dm", "E7", "Am"]),
    "minor-ii-V": ("minor", ["Am7", "Dm7", "Bm7b5", "E7", "Am7", "Fmaj7", "Bm7b5 E7", "Am7"]),
    "12-bar-blues": ("major", ["C7", "F7", "C7", "C7", "F7", "F7", "C7", "C7", "G7", "F7",
                               "C7", "G7"]),
    "jazz-blues": ("major", ["C7", "F7", "C7", "Gm7 C7", "F7", "F#dim", "C7", "A7", "Dm7",
                             "G7", "C7 A7", "Dm7 G7"]),
    "minor-blues": ("minor", ["Am7", "Dm7", "Am7", "Am7", "Dm7", "Dm7", "Am7", "Am7", "F7",
                              "E7", "Am7", "E7"]),
    "I-IV-V": ("major", ["C", "C", "F", "C", "C", "G7", "G7", "C"]),
    "I-V7": ("major", ["C", "C", "G7", "G7", "G7", "G7", "C", "C"]),
    "latin-I-IV-V": ("major", ["C", "F", "G7", "F", "C", "F", "G7", "C"]),
    "tango-minor": ("minor", ["Am", "Am", "E7", "E7", "Dm", "Am", "E7", "Am"]),
    "minor-vamp": ("minor", ["Am7", "D7", "Am7", "D7", "Am7", "D7", "Em7", "Am7"]),
}
STYLE_PROGRESSIONS = {  # four per groove, each in its own key
    "rock": ["I-vi-IV-V", "I-V-vi-IV", "I-IV-I-V", "12-bar-blues"],
    "pop": ["I-vi-IV-V", "I-V-vi-IV", "minor-i-iv-V", "I-IV-I-V"],
    "ballad": ["I-vi-IV-V", "I-V-vi-IV", "ii-V-I", "minor-i-iv-V"],
    "swing": ["ii-V-I", "rhythm", "12-bar-blues", "jazz-7ths"],
    "jazz": ["ii-V-I", "jazz-7ths", "jazz-blues", "minor-ii-V"],
    "jazz_waltz": ["ii-V-I", "jazz-7ths", "minor-ii-V", "bossa"],
    "waltz": ["I-V7", "I-IV-I-V", "I-vi-IV-V", "minor-i-iv-V"],
    "bossa_nova": ["bossa", "ii-V-I", "jazz-7ths", "minor-ii-V"],
    "latin": ["latin-I-IV-V", "minor-i-iv-V", "ii-V-I", "I-V7"],
    "tango": ["tango-minor", "minor-i-iv-V", "I-V7", "minor-ii-V"],
    "blues": ["12-bar-blues", "minor-blues", "jazz-blues", "12-bar-blues"],
    "country": ["I-IV-V", "I-IV-I-V", "I-vi-IV-V", "12-bar-blues"],
    "funk_soul": ["minor-vamp", "12-bar-blues", "I-vi-IV-V", "ii-V-I"],
    "march": ["I-V7", "I-IV-I-V", "I-IV-V", "minor-i-iv-V"],
}
MAJOR_KEYS = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MINOR_KEYS = ("A", "Bb", "B", "C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#")
TRANSPOSITIONS = (0, 5, -2, 3, -4, 2, 7, -5, 4, -3, 1, -1)  # semitones from C / A minor

# ---------------------------------------------------------------------------------------
# music21 part names -> GM programs

VOICE_PROGRAM = 52  # Choir Aahs
INSTRUMENT_WORDS = (  # first match wins (substrings of the lowercased part name)
    ("violoncello", 42), ("cello", 42), ("viola", 41), ("violin", 40), ("contrabass", 43),
    ("double bass", 43), ("piccolo", 72), ("flute", 73), ("oboe", 68), ("english horn", 69),
    ("clarinet", 71), ("bassoon", 70), ("horn", 60), ("trumpet", 56), ("trombone", 57),
    ("tuba", 58), ("harpsichord", 6), ("organ", 19), ("piano", 0), ("guitar", 24),
    ("lute", 24), ("harp", 46), ("timpani", 47))
DYNAMIC_VELOCITY = {"pppp": 20, "ppp": 30, "pp": 40, "p": 55, "mp": 67, "mf": 80, "f": 96,
                    "ff": 110, "fff": 120, "ffff": 127, "sf": 100, "sfz": 105, "sffz": 110,
                    "fz": 100, "rfz": 100, "fp": 90, "sfp": 95}
DEFAULT_VELOCITY = 80
FOLK_PROGRAMS = {"essen": 73, "oneills": 40}  # flute for the Essen songs, fiddle for O'Neill
CHORALE_PROGRAM = VOICE_PROGRAM

# How much of each music21 source is built (None: all). Chosen so the whole build takes
# ~10 minutes on 2 cores; see the module notes in BUILD.md.
SUBSETS = {"palestrina": 300, "folk": 1000}
GAME_MAX_BARS = 128
ALL_SOURCES = ("mma", "chorale", "music21", "game")
MUSIC21_STYLES = ("renaissance", "medieval", "string_quartet", "folk")


def _fraction(text):
    """A deterministic number in [0, 1) from a string."""
    return zlib.crc32(text.encode("utf-8")) / 2 ** 32


def _tempo_in(range_, name):
    low, high = range_
    return int(round(low + (high - low) * _fraction("tempo:" + name)))


def _safe(name):
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", name).strip("_") or "piece"


def gm_family(program, is_drum=False):
    """The GM family name of a program (program // 8), or 'drums'."""
    families = ("piano", "chromatic_percussion", "organ", "guitar", "bass", "strings",
                "ensemble", "brass", "reed", "pipe", "synth_lead", "synth_pad",
                "synth_effects", "ethnic", "percussive", "sound_effects")
    return "drums" if is_drum else families[int(program) // 8]


# ---------------------------------------------------------------------------------------
# Writing one piece

def _finish_sequence(sequence, qpm, numerator, denominator, style, source, title):
    """One tempo and one time signature at 0, metadata set; returns the manifest entry."""
    del sequence.tempos[:]
    sequence.tempos.add(time=0.0, qpm=float(qpm))
    del sequence.time_signatures[:]
    sequence.time_signatures.add(time=0.0, numerator=numerator, denominator=denominator)
    sequence.total_time = max((n.end_time for n in sequence.notes), default=0.0)
    sequence.sequence_metadata.title = title
    del sequence.sequence_metadata.genre[:]
    sequence.sequence_metadata.genre.append(style)
    bar_seconds = numerator * 4.0 / denominator * 60.0 / qpm
    programs = sorted({n.program for n in sequence.notes if not n.is_drum})
    return {"style": style, "source": source, "title": title, "qpm": round(float(qpm), 3),
            "time_signature": f"{numerator}/{denominator}",
            "bars": max(1, math.ceil(sequence.total_time / bar_seconds - 0.1)),
            "seconds": round(sequence.total_time, 3), "programs": programs,
            "is_drum": any(n.is_drum for n in sequence.notes), "notes": len(sequence.notes),
            "notes_by_family": dict(sorted(collections.Counter(
                gm_family(n.program, n.is_drum) for n in sequence.notes).items()))}


def _write(sequence, output_dir, entry, name):
    from musiczoo.pipelines.writers import write_midi

    relative = f"{entry['style']}/{entry['source']}__{_safe(name)}.mid"
    write_midi(sequence, pathlib.Path(output_dir) / relative)
    return {"file": relative, **entry}


# ---------------------------------------------------------------------------------------
# music21 scores (runs in worker processes: plain picklable jobs and results)

def _program_of(part, rule):
    name = (part.partName or "").replace("\n", " ").lower()
    for word, program in INSTRUMENT_WORDS:
        if word in name:
            return program
    if rule == "voices":
        return VOICE_PROGRAM
    if isinstance(rule, int):
        return rule
    instrument = part.getInstrument(returnDefault=False)
    program = getattr(instrument, "midiProgram", None)
    return int(program) if program is not None else 0


def _first(score, classes):
    return next(iter(score.recurse().getElementsByClass(classes)), None)


def score_to_sequence(score, program_rule, qpm_range, name, counts=None):
    """(NoteSequence with one tempo, one time signature, one instrument per part,
    (numerator, denominator), qpm, tempo kept from the score (bool)).

    The first tempo mark with a number is kept (later changes are dropped); without one
    the tempo is drawn from `qpm_range` by the piece's name. Velocities follow the part's
    dynamics (mf = 80 where none is marked). A pickup bar is padded to a whole bar so
    bar lines fall on multiples of the bar from time 0. `counts` (a Counter) gets
    `pieces_with_tempo_changes_dropped` and `pieces_with_meter_changes_dropped`.
    """
    from music21 import dynamics, key, meter, tempo

    counts = counts if counts is not None else collections.Counter()
    parts_for_meters = list(score.parts)[:1] or [score]
    meters = {t.ratioString for t in parts_for_meters[0].recurse().getElementsByClass(
        meter.TimeSignature)}
    if len(meters) > 1:
        counts["pieces_with_meter_changes_dropped"] += 1
    tempi = {m.number for m in score.recurse().getElementsByClass(tempo.MetronomeMark)
             if m.number}
    if len(tempi) > 1:
        counts["pieces_with_tempo_changes_dropped"] += 1

    ts = _first(score, meter.TimeSignature)
    numerator, denominator = (ts.numerator, ts.denominator) if ts is not None else (4, 4)
    qpm = None
    for mark in score.recurse().getElementsByClass(tempo.MetronomeMark):
        try:
            qpm = mark.getQuarterBPM()
        except Exception:  # a text-only mark music21 cannot resolve
            qpm = None
        if qpm:
            break
    from_score = bool(qpm) and 20 <= qpm <= 320
    qpm = float(qpm) if from_score else float(_tempo_in(qpm_range, name))
    seconds_per_quarter = 60.0 / qpm
    sequence = music_pb2.NoteSequence(ticks_per_quarter=220)
    ks = _first(score, key.KeySignature)
    if ks is not None:
        k = ks if isinstance(ks, key.Key) else ks.asKey()
        sequence.key_signatures.add(time=0.0, key=k.tonic.pitchClass,
                                    mode=1 if k.mode in ("minor", "aeolian") else 0)
    parts = list(score.parts) or [score]
    shift = 0.0
    measures = parts[0].getElementsByClass("Measure")
    if measures and measures[0].paddingLeft:
        shift = float(measures[0].paddingLeft)
    for index, part in enumerate(parts):
        program = _program_of(part, program_rule)
        sequence.instrument_infos.add(instrument=index,
                                      name=(part.partName or f"part {index + 1}"))
        flat = part.flatten()  # music21's stripTies deep-copies the part: 10x slower
        marks = sorted((float(d.offset), DYNAMIC_VELOCITY.get(d.value))
                       for d in flat.getElementsByClass(dynamics.Dynamic))
        marks = [(o, v) for o, v in marks if v]
        for pitch, start, end, velocity in _tied_notes(flat.notes, marks):
            sequence.notes.add(pitch=pitch, velocity=velocity, program=program,
                               instrument=index, part=index,
                               start_time=(start + shift) * seconds_per_quarter,
                               end_time=(end + shift) * seconds_per_quarter)
    return sequence, (numerator, denominator), qpm, from_score


def _tied_notes(elements, marks):
    """[(midi pitch, start, end (quarters), velocity)] of a part's flat notes and chords in
    offset order, tied notes merged (what stripTies does, without copying the stream),
    grace notes dropped; velocity from the last dynamic mark at or before the note."""
    notes, open_ties = [], {}  # open_ties: pitch -> index in notes of a note tied onward
    velocity, next_mark = DEFAULT_VELOCITY, 0
    for element in elements:
        length = float(element.quarterLength)
        if length <= 0:
            continue  # grace note
        offset = float(element.offset)
        while next_mark < len(marks) and marks[next_mark][0] <= offset + 1e-6:
            velocity = marks[next_mark][1]
            next_mark += 1
        members = element.notes if element.isChord else (element,)
        for member in members:
            midi = member.pitch.midi
            if not 0 <= midi <= 127:
                continue
            tie = member.tie.type if member.tie is not None else None
            if element.isChord and tie is None and element.tie is not None:
                tie = element.tie.type
            held = open_ties.pop(midi, None)
            if tie in ("stop", "continue") and held is not None and \
                    abs(notes[held][2] - offset) < 1e-3:
                notes[held][2] = offset + length
                index = held
            else:
                notes.append([midi, offset, offset + length, velocity])
                index = len(notes) - 1
            if tie in ("start", "continue"):
                open_ties[midi] = index
    notes.sort(key=lambda n: (n[1], n[0]))
    return [tuple(n) for n in notes]


def _render_score(job):
    """One music21 job -> (manifest entry or None, counts {name: n}, warning or None)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            from music21 import converter

            if job.get("abc") is not None:
                score = converter.parse("%abc-2.1\n" + job["abc"], format="abc")
            else:
                score = converter.parse(job["path"])
            counts = collections.Counter()
            sequence, (num, den), qpm, from_score = score_to_sequence(
                score, job["program"], STYLE_TEMPO[job["style"]], job["name"], counts)
        except Exception as e:  # music21 raises many types on odd files
            return None, {f"{job['source']}_failed_music21": 1}, \
                f"{job['name']}: music21 cannot read it: {type(e).__name__}: {e}"
    parts = len({n.instrument for n in sequence.notes})
    if not sequence.notes:
        return None, {f"{job['source']}_skipped_no_notes": 1}, None
    if job.get("min_parts") and parts < job["min_parts"]:
        return None, {f"{job['source']}_skipped_too_few_parts": 1}, None
    if job.get("strings_only") and not all(40 <= n.program <= 43 for n in sequence.notes):
        return None, {f"{job['source']}_skipped_not_strings": 1}, None
    counts["tempo_from_score" if from_score else "tempo_drawn_from_style_range"] += 1
    title = job.get("title") or (score.metadata.title if score.metadata is not None
                                 and score.metadata.title else job["name"])
    entry = _finish_sequence(sequence, qpm, num, den, job["style"], job["source"], title)
    entry = _write(sequence, job["output_dir"], entry, job["name"])
    counts[f"pieces_written_{job['source']}"] += 1
    return entry, dict(counts), None


def _evenly(items, count):
    """`count` items spread evenly over `items` (all when count is None or larger)."""
    items = list(items)
    if count is None or count >= len(items):
        return items
    return [items[i * len(items) // count] for i in range(count)]


def _music21_jobs(output_dir, limit, stats, styles=MUSIC21_STYLES):
    root = music21_corpus_dir()
    jobs = []

    def add(source, style, paths, program, subset=None, **extra):
        if style not in styles:
            return
        by_stem = {}
        for path in sorted((str(p) for p in paths), key=lambda p: (not p.endswith(".mxl"), p)):
            stem = os.path.splitext(path)[0]
            if stem in by_stem:  # the same piece as .mxl and .xml: keep the .mxl
                stats.count(f"{source}_skipped_second_encoding")
            else:
                by_stem[stem] = path
        paths = sorted(by_stem.values())
        if limit:
            paths = sorted(paths, key=lambda p: (os.path.getsize(p), p))[:limit]
        else:
            chosen = _evenly(paths, subset)
            if len(chosen) < len(paths):
                stats.count(f"{source}_not_used_subset", len(paths) - len(chosen))
            paths = chosen
        for path in paths:
            relative = os.path.relpath(path, root)
            jobs.append({"path": path, "source": source, "style": style, "program": program,
                         "name": os.path.splitext(relative.split("/", 1)[-1])[0].replace(
                             "/", "-"), "output_dir": str(output_dir), **extra})

    add("palestrina", "renaissance", (root / "palestrina").glob("*.krn"), "voices",
        SUBSETS.get("palestrina"), min_parts=2)
    add("monteverdi", "renaissance", (root / "monteverdi").glob("*.mxl"), "voices",
        min_parts=2)
    add("trecento", "medieval", [p for p in (root / "trecento").iterdir()
                                 if p.suffix in (".xml", ".mxl")], "voices", min_parts=2)
    for composer in ("beethoven", "mozart", "haydn"):
        files = [p for p in (root / composer).rglob("*.mxl") if "k545" not in str(p)]
        add(composer, "string_quartet", files, "instruments", min_parts=3, strings_only=True)
    if "folk" in styles:
        jobs.extend(_folk_jobs(output_dir, limit, stats))
    return jobs


def _folk_jobs(output_dir, limit, stats):
    from musiczoo.pipelines.readers import folk

    tunes = list(folk._folk_jobs(folk.folk_tune_files(), Stats()))
    chosen = tunes[:limit] if limit else _evenly(tunes, SUBSETS.get("folk"))
    if len(chosen) < len(tunes):
        stats.count("folk_not_used_subset", len(tunes) - len(chosen))
    jobs = []
    for relative, number, text in chosen:
        source = "essen" if relative.startswith("essenFolksong") else "oneills"
        stem = os.path.splitext(os.path.basename(relative))[0]
        jobs.append({"abc": text, "source": source, "style": "folk",
                     "program": FOLK_PROGRAMS[source], "name": f"{stem}-{number}",
                     "output_dir": str(output_dir)})
    return jobs


# ---------------------------------------------------------------------------------------
# Bach chorales (note_seq's MusicXML reader: fast, in this process)

def _quarters(sequence):
    """seconds -> quarter notes through a sequence's tempo map."""
    tempos = sorted(sequence.tempos, key=lambda t: t.time) or [music_pb2.NoteSequence.Tempo(
        time=0.0, qpm=120.0)]
    segments, quarters = [], 0.0
    for i, t in enumerate(tempos):
        segments.append((t.time, quarters, t.qpm / 60.0))
        if i + 1 < len(tempos):
            quarters += (tempos[i + 1].time - t.time) * t.qpm / 60.0

    def to_quarters(seconds):
        start, at, per_second = next((s for s in reversed(segments) if s[0] <= seconds),
                                     segments[0])
        return at + (seconds - start) * per_second
    return to_quarters


def _chorale_entries(output_dir, limit, stats):
    from musiczoo.pipelines.readers import bach

    entries = []
    for chorale in bach.bach_chorales(stats):
        if limit and len(entries) >= limit:
            break
        name = os.path.splitext(os.path.basename(chorale.filename))[0]
        qpm = _tempo_in(STYLE_TEMPO["chorale"], name)
        to_quarters = _quarters(chorale)
        for note in chorale.notes:
            note.start_time = to_quarters(note.start_time) * 60.0 / qpm
            note.end_time = to_quarters(note.end_time) * 60.0 / qpm
            note.program, note.velocity = CHORALE_PROGRAM, DEFAULT_VELOCITY
        ts = chorale.time_signatures[0] if chorale.time_signatures else None
        num, den = (ts.numerator, ts.denominator) if ts else (4, 4)
        if len(chorale.time_signatures) > 1:
            stats.count("time_signature_changes_dropped")
        for ks in chorale.key_signatures[1:]:
            chorale.key_signatures.remove(ks)
        if chorale.key_signatures:
            chorale.key_signatures[0].time = 0.0
        title = chorale.sequence_metadata.title
        entry = _finish_sequence(chorale, qpm, num, den, "chorale", "bach", title)
        entries.append(_write(chorale, output_dir, entry, name))
        stats.count("pieces_written_bach")
    return entries


# ---------------------------------------------------------------------------------------
# MMA band arrangements

def _library_dir():
    return pathlib.Path(next((d for d in MMA_LIBRARY_DIRS if os.path.isdir(d)),
                             MMA_LIBRARY_DIRS[0]))


def mma_style_files(library_dir=None):
    """[(style, library file)] of every mapped MMA library file that is installed."""
    library_dir = pathlib.Path(library_dir or _library_dir())
    out = []
    for style, stems in MMA_STYLES.items():
        for stem in stems:
            path = library_dir / (stem if "/" in stem else "stdlib/" + stem)
            path = path.with_name(path.name + ".mma")
            if path.exists():
                out.append((style, str(path)))
    return out


def _mma_shapes(mma, library_file, names, workdir):
    # {groove: (pattern bars, time signature, beats a bar)} from one dry run per file.
    from musiczoo.pipelines.readers.mma import _run_mma

    script = f"Use {library_file}\n" + "".join(
        f"Groove {n}\nPrint GROOVE {n} $_SeqSize $_TimeSig $_Time\n" for n in names)
    lines = _run_mma(mma, script, workdir, "shapes-" + _safe(os.path.basename(library_file)),
                     "-n").stdout.splitlines()
    shapes = {}
    for line in lines:
        fields = line.split()
        if line.startswith("GROOVE ") and len(fields) >= 5:
            shapes[fields[1].lower()] = (int(fields[2]), fields[3], int(float(fields[4])))
    return shapes


def _bar_lines(chords, beats):
    """MMA chord lines for one progression: 'X Y' bars split at half the bar (or, in an odd
    meter, into two bars)."""
    lines = []
    for bar in chords:
        parts = bar.split()
        if len(parts) == 1:
            lines.append(parts[0])
        elif beats % 2 == 0:
            half = ["/"] * (beats // 2 - 1)
            lines.append(" ".join([parts[0], *half, parts[1], *half]))
        else:
            lines.extend(parts)
    return lines


def mma_script(job):
    """The .mma script of one groove job: its progressions, each in its own key."""
    lines = [f"RndSeed {job['seed']}", f"Use {job['library_file']}", f"Groove {job['groove']}",
             f"Tempo {job['mma_tempo']}"]
    bar = 1
    for section in job["sections"]:
        mode, chords = PROGRESSIONS[section["progression"]]
        lines.append(f"KeySig {section['key']}" + (" Minor" if mode == "minor" else ""))
        lines.append(f"Transpose {section['transpose']}")
        for chord_line in _bar_lines(chords, job["beats"]):
            lines.append(f"{bar} {chord_line}")
            bar += 1
    return "\n".join(lines) + "\n"


def _mma_jobs(mma, library_dir, limit, workdir, stats, styles=None):
    from musiczoo.pipelines.readers.mma import list_mma_grooves

    files = [(style, path) for style, path in mma_style_files(library_dir)
             if styles is None or style in styles]
    grooves = {}
    for _, path in files:
        grooves.setdefault(path, [g for f, g in list_mma_grooves(os.path.dirname(path))
                                  if f == path])
    jobs, styles_done = [], set()
    for style, path in files:
        if limit and style in styles_done:
            continue
        names = []
        for name in grooves[path]:
            if MMA_SKIPPED_GROOVES.search(name):
                stats.count("grooves_skipped_intro_end_fill")
            else:
                names.append(name)
        if limit:
            names = names[:limit]
            styles_done.add(style)
        shapes = _mma_shapes(mma, path, names, workdir)
        stem = os.path.splitext(os.path.basename(path))[0]
        library = os.path.basename(os.path.dirname(path))
        source = "mma" if library == "stdlib" else f"mma_{library}"
        for name in names:
            if name.lower() not in shapes:
                stats.count("grooves_failed_no_shape")
                continue
            _, time_signature, beats = shapes[name.lower()]
            num, den = (int(x) for x in time_signature.split("/"))
            qpm = _tempo_in(FILE_TEMPO.get(stem, STYLE_TEMPO[style]), f"{library}/{name}")
            # MMA's Tempo counts beats of `beats` per bar; the file says num/den: the bar
            # takes beats * 60 / mma_tempo seconds = (num * 4 / den) * 60 / qpm.
            mma_tempo = int(round(qpm * beats / (num * 4.0 / den)))
            qpm = mma_tempo * (num * 4.0 / den) / beats
            start = int(_fraction("keys:" + library + name) * len(TRANSPOSITIONS))
            sections = []
            for i, progression in enumerate(STYLE_PROGRESSIONS[style]):
                mode = PROGRESSIONS[progression][0]
                transpose = TRANSPOSITIONS[(start + i) % len(TRANSPOSITIONS)]
                key = (MINOR_KEYS if mode == "minor" else MAJOR_KEYS)[transpose % 12]
                sections.append({"progression": progression, "transpose": transpose,
                                 "key": key})
            jobs.append({"library_file": path, "groove": name, "style": style,
                         "source": source, "name": f"{stem}-{name}", "beats": beats,
                         "num": num, "den": den, "qpm": qpm, "mma_tempo": mma_tempo,
                         "seed": 1 + zlib.crc32(name.encode()) % 9999, "sections": sections})
    return jobs


def _render_mma(mma, job, workdir):
    """(MIDI bytes or None, error or None) for one groove job."""
    from musiczoo.pipelines.readers.mma import _run_mma

    name = _safe(job["source"] + "-" + job["name"])
    midi = pathlib.Path(workdir) / f"{name}.mid"
    result = _run_mma(mma, mma_script(job), workdir, name, "-f", str(midi))
    if result.returncode != 0 or not midi.exists():
        return None, ((result.stdout + result.stderr).strip().splitlines() or ["failed"])[-1]
    return midi.read_bytes(), None


def _mma_entry(job, midi, output_dir, seen, stats):
    sequence = midi_bytes_to_sequence(midi, job["name"])
    if len({n.instrument for n in sequence.notes}) < 2:
        stats.count("grooves_skipped_one_track")
        return None
    key = content_key(sequence)
    if key in seen:
        stats.count("grooves_skipped_duplicate")
        return None
    seen.add(key)
    title = f"{job['groove']} ({', '.join(s['progression'] + ' in ' + s['key'] for s in job['sections'])})"
    entry = _finish_sequence(sequence, job["qpm"], job["num"], job["den"], job["style"],
                             job["source"], title)
    entry["groove"] = job["groove"]
    entry["progressions"] = job["sections"]
    stats.count(f"pieces_written_{job['source']}")
    return _write(sequence, output_dir, entry, job["name"])


# ---------------------------------------------------------------------------------------
# Planet Blupi

def _game_entries(output_dir, limit, stats):
    import mido

    folder = pathlib.Path(PLANETBLUPI_DIR)
    if not folder.is_dir():
        stats.count("game_not_installed")
        return []
    entries = []
    for path in sorted(folder.glob("*.mid"))[:limit or None]:
        data = path.read_bytes()
        messages = [m for track in mido.MidiFile(file=__import__("io").BytesIO(data)).tracks
                    for m in track]
        tempos = {m.tempo for m in messages if m.type == "set_tempo"}
        signatures = {(m.numerator, m.denominator) for m in messages
                      if m.type == "time_signature"}
        if len(tempos) > 1 or len(signatures) > 1:
            stats.count("game_skipped_tempo_or_meter_changes")
            continue
        sequence = midi_bytes_to_sequence(data, str(path))
        qpm = sequence.tempos[0].qpm if sequence.tempos else 120.0
        ts = sequence.time_signatures[0] if sequence.time_signatures else None
        num, den = (ts.numerator, ts.denominator) if ts else (4, 4)
        # The game's tracks are 10-28 minute in-file loops of a few minutes of music: keep
        # the first GAME_MAX_BARS bars, so repeats do not outweigh the other styles.
        end = GAME_MAX_BARS * num * 4.0 / den * 60.0 / qpm
        kept = [n for n in sequence.notes if n.start_time < end - 1e-6]
        if len(kept) < len(sequence.notes):
            stats.count("game_pieces_cut_to_max_bars")
            del sequence.notes[:]
            sequence.notes.extend(kept)
            for n in sequence.notes:
                n.end_time = min(n.end_time, end)
            for field in (sequence.control_changes, sequence.pitch_bends):
                keep = [c for c in field if c.time < end]
                del field[:]
                field.extend(keep)
        entry = _finish_sequence(sequence, qpm, num, den, "game", "planetblupi", path.stem)
        entries.append(_write(sequence, output_dir, entry, path.stem))
        stats.count("pieces_written_planetblupi")
    return entries


# ---------------------------------------------------------------------------------------



def build_multitrack_corpus(output_dir=None, mma="mma", workers=None, progress=True,
                            limit=None, sources=ALL_SOURCES, mma_styles=None,
                            library_dir=None):
    """Builds the multitrack corpus; returns the Stats (also saved in manifest.json).

    `limit` (a small int, for tests) renders only a few pieces per source: the first
    `limit` grooves of each MMA style (from its first library file), the `limit` smallest
    files of each music21 source, the first `limit` chorales, folk tunes and game pieces. `sources` picks what
    to build: "mma" (band arrangements; `mma_styles` narrows them to some styles),
    "chorale", "music21" (= "renaissance", "medieval", "string_quartet", "folk", which
    can also be named one by one) and "game". MMA renders run in `workers` threads,
    music21 parsing in `workers` processes (default: all cores). Needs the `mma` command
    for "mma" (Debian/Ubuntu: apt-get install -y mma). A rebuild into a folder holding a
    corpus (a manifest.json) replaces its style folders.
    """
    sources = set(sources)
    if "music21" in sources:
        sources |= set(MUSIC21_STYLES)
    unknown = sources - set(ALL_SOURCES) - set(MUSIC21_STYLES)
    if unknown:
        raise ValueError(f"unknown sources {sorted(unknown)}; choose from "
                         f"{ALL_SOURCES + MUSIC21_STYLES}")
    music21_styles = tuple(s for s in MUSIC21_STYLES if s in sources)
    start = time.monotonic()
    stats = Stats()
    output_dir = pathlib.Path(output_dir or data_dir() / "multitrack")
    mma_path = None
    if "mma" in sources:
        mma_path = shutil.which(mma)
        if mma_path is None:
            raise FileNotFoundError(f"the {mma!r} command is not installed; "
                                    f"install it with: apt-get install -y mma")
    if output_dir.exists() and any(output_dir.iterdir()) and \
            not (output_dir / "manifest.json").exists():
        raise FileExistsError(f"{output_dir}: a folder that holds no multitrack corpus "
                              f"(no manifest.json); give an empty or new folder")
    # Built next to the target, then swapped in: a reader never sees half a corpus.
    final_dir, output_dir = output_dir, output_dir.with_name(output_dir.name + ".partial")
    if output_dir.exists():
        shutil.rmtree(output_dir)
    output_dir.mkdir(parents=True)
    workers = workers or default_workers()
    entries = []
    pool, futures = None, []
    jobs = _music21_jobs(output_dir, limit, stats, music21_styles) if music21_styles else []
    if jobs:
        # spawn, not fork: the caller may hold TensorFlow's threads.
        pool = concurrent.futures.ProcessPoolExecutor(
            max(1, min(workers, len(jobs))), mp_context=multiprocessing.get_context("spawn"))
        # Longest first, so a big quartet movement does not finish last alone.
        order = sorted(jobs, key=lambda j: -len(j["abc"]) if j.get("abc") is not None
                       else -os.path.getsize(j["path"]) * 8)
        futures = [pool.submit(_render_score, job) for job in order]
    try:
        if "mma" in sources:
            library_dir = pathlib.Path(library_dir or _library_dir())
            with tempfile.TemporaryDirectory() as workdir:
                jobs = _mma_jobs(mma_path, library_dir, limit, workdir, stats, mma_styles)
                meter = Progress("rendering MMA band arrangements", total=len(jobs),
                                 unit="grooves", enabled=progress)
                seen = set()
                with concurrent.futures.ThreadPoolExecutor(workers) as threads:
                    renders = threads.map(lambda j: _render_mma(mma_path, j, workdir), jobs)
                    for job, (midi, error) in zip(jobs, renders):
                        meter.update()
                        if error:
                            stats.count("grooves_failed_mma_error")
                            logger.warning("%s: groove %s failed: %s", job["library_file"],
                                           job["groove"], error)
                            continue
                        entry = _mma_entry(job, midi, output_dir, seen, stats)
                        if entry:
                            entries.append(entry)
                meter.finish()
        if "chorale" in sources:
            entries.extend(_chorale_entries(output_dir, limit, stats))
        if "game" in sources:
            entries.extend(_game_entries(output_dir, limit, stats))
        if futures:
            meter = Progress("reading music21 scores", total=len(futures), unit="pieces",
                             enabled=progress)
            for future in concurrent.futures.as_completed(futures):
                entry, counts, warning = future.result()
                meter.update()
                for name, n in counts.items():
                    stats.count(name, n)
                if warning:
                    logger.warning("skipped %s", warning)
                if entry:
                    entries.append(entry)
            meter.finish()
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    entries.sort(key=lambda e: e["file"])
    clashes = [f for f, n in collections.Counter(e["file"] for e in entries).items() if n > 1]
    if clashes:  # two pieces under one name: a bug in the naming, never silently kept
        raise RuntimeError(f"pieces written under the same name: {clashes[:5]}")
    stats.count("pieces_written", len(entries))
    seconds = round(time.monotonic() - start, 1)
    used = sorted({e["source"] for e in entries})
    manifest = {"source": "musiczoo multitrack corpus (issue 16): MMA band arrangements, "
                          "music21 corpus, Planet Blupi",
                "licences": {s: MULTITRACK_LICENCES[s] for s in used},
                "mma_version": _mma_version(mma_path) if mma_path else None,
                "seconds": seconds, "limit": limit, "stats": stats.as_dict()["counts"],
                "pieces": entries}
    (output_dir / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    old_dir = final_dir.with_name(final_dir.name + ".old")
    if old_dir.exists():
        shutil.rmtree(old_dir)
    if final_dir.exists():
        final_dir.rename(old_dir)
    output_dir.rename(final_dir)
    shutil.rmtree(old_dir, ignore_errors=True)
    return stats


def _mma_version(mma_path):
    words = subprocess.run([mma_path, "-v"], capture_output=True, text=True).stdout.split()
    return words[-1] if words else None


def multitrack_dir():
    """The built multitrack folder; FileNotFoundError with the build command if missing."""
    return built_corpus_dir("multitrack", MULTITRACK_BUILD_COMMAND, "about 10 minutes")


def multitrack(stats=None):
    """Yields the corpus's NoteSequences (genre = style, the first folder)."""
    folder = multitrack_dir()
    for sequence in read_files(iter_music_files(folder), stats, progress=False,
                               root_dir=folder):
        sequence.collection_name = "multitrack"
        style = sequence.filename.split("/", 1)[0]
        sequence.sequence_metadata.title = os.path.splitext(
            os.path.basename(sequence.filename))[0]
        del sequence.sequence_metadata.genre[:]
        sequence.sequence_metadata.genre.append(style)
        yield sequence


def corpus_report(folder=None):
    """Counts of a built corpus from its manifest: pieces, hours and notes, per style (with
    its instruments: GM families and how many pieces use each) and per instrument family."""
    folder = pathlib.Path(folder) if folder else multitrack_dir()
    manifest = json.loads((folder / "manifest.json").read_text())
    report = {"pieces": 0, "hours": 0.0, "notes": 0, "styles": {}, "instruments": {},
              "sources": {}, "build_seconds": manifest.get("seconds")}
    for piece in manifest["pieces"]:
        families = sorted({gm_family(p) for p in piece["programs"]}
                          | ({"drums"} if piece["is_drum"] else set()))
        style = report["styles"].setdefault(
            piece["style"], {"pieces": 0, "hours": 0.0, "notes": 0, "instruments": {}})
        source = report["sources"].setdefault(piece["source"], {"pieces": 0, "hours": 0.0})
        hours = piece["seconds"] / 3600.0
        for counts in (report, style, source):
            counts["pieces"] += 1
            counts["hours"] += hours
        for counts in (report, style):
            counts["notes"] += piece["notes"]
        for family in families:
            style["instruments"][family] = style["instruments"].get(family, 0) + 1
            instrument = report["instruments"].setdefault(family, {"pieces": 0, "notes": 0})
            instrument["pieces"] += 1
        # Notes per family need the files; the manifest keeps notes per piece only.
    for family_notes in _family_notes(folder, manifest).items():
        family, notes = family_notes
        report["instruments"].setdefault(family, {"pieces": 0, "notes": 0})["notes"] = notes
    for counts in [report, *report["styles"].values(), *report["sources"].values()]:
        counts["hours"] = round(counts["hours"], 3)
    report["styles"] = dict(sorted(report["styles"].items()))
    report["instruments"] = dict(sorted(report["instruments"].items()))
    return report


def _family_notes(folder, manifest):
    """{family: notes} over the corpus, from `notes_by_family` in the manifest entries."""
    totals = collections.Counter()
    for piece in manifest["pieces"]:
        totals.update(piece.get("notes_by_family", {}))
    return dict(totals)
