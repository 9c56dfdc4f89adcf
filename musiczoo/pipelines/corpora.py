"""Named corpora that work offline, and `resolve_input`, which turns any input spec into sequences.

  bach_chorales  J.S. Bach's four-part chorales bundled with music21 (MusicXML).
  folk_melodies  The Essen folk song collection and O'Neill's Music of Ireland (1850), bundled
                 with music21 as ABC. Read with music21 and cached, because note_seq's ABC
                 parser rejects about two thirds of these tunes (it has no rests, tuplets,
                 grace notes, chords or variant endings).
  mma_grooves    Drum grooves rendered from the groove library of MMA (Musical MIDI
                 Accompaniment, Debian package `mma`); build once with `build_mma_grooves()`.
  tfds:<name>    A TensorFlow Datasets MIDI dataset, e.g. `tfds:groove/2bar-midionly` (online).

Built corpora live in the data folder: $MUSICZOO_DATA, default ~/.cache/musiczoo.
"""
import concurrent.futures
import dataclasses
import hashlib
import json
import logging
import multiprocessing
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import time
import warnings

from musiczoo.pipelines import io
from musiczoo.pipelines.io import music_pb2
from musiczoo.pipelines.stats import Stats
from musiczoo.progress import Progress

logger = logging.getLogger(__name__)

# Chorale voices in instrument order: instrument 0 is the soprano (the chorale melody).
CHORALE_VOICES = ("Soprano", "Alto", "Tenor", "Bass")
FOLK_COLLECTIONS = ("essenFolksong", "oneills1850")
MUSIC21_LICENCE = ("music21 corpus: free for non-commercial use per its licence notes "
                   "(corpus/license.txt, essenFolksong/license.txt)")
MMA_BUILD_COMMAND = ("apt-get install -y mma && python -c 'from musiczoo.pipelines.corpora "
                     "import build_mma_grooves; build_mma_grooves()'")


def data_dir():
    """Where built corpora are kept: $MUSICZOO_DATA, default ~/.cache/musiczoo."""
    return pathlib.Path(os.environ.get("MUSICZOO_DATA") or "~/.cache/musiczoo").expanduser()


def music21_corpus_dir():
    import music21  # Deferred: only the music21 corpora need it.

    return pathlib.Path(music21.__file__).parent / "corpus"


class Sequences:
    """A re-iterable stream of NoteSequences: each `iter()` starts reading afresh."""

    def __init__(self, make_iterator, description=""):
        self._make_iterator = make_iterator
        self.description = description

    def __iter__(self):
        return iter(self._make_iterator())

    def __repr__(self):
        return f"Sequences({self.description!r})"


# --- Bach chorales -------------------------------------------------------------------------

def chorale_files():
    """music21's Bach MusicXML files (.krn copies of the same chorales are left out)."""
    folder = music21_corpus_dir() / "bach"
    return sorted(str(p) for p in folder.iterdir() if p.suffix in (".mxl", ".xml"))


def chorale_voices(sequence):
    """Keeps the four sung parts of a chorale as instruments 0-3 (soprano, alto, tenor, bass).

    Instrumental parts (horns, trumpets, strings, continuo) are dropped: they double the
    voices or add obbligato lines that are not part of the four-part setting. Returns None
    when the score does not have exactly one part per voice: that is the case for the
    prelude BWV 846 and the five-part chorales BWV 27.6 and 227.3 (two soprano parts).
    """
    voice_of_part = {}
    for info in sequence.part_infos:
        words = info.name.replace("\r", " ").split()
        if words and words[0].capitalize() in CHORALE_VOICES:
            voice_of_part[info.part] = CHORALE_VOICES.index(words[0].capitalize())
    if sorted(voice_of_part.values()) != [0, 1, 2, 3]:
        return None
    chorale = music_pb2.NoteSequence()
    chorale.CopyFrom(sequence)
    del chorale.notes[:]
    del chorale.part_infos[:]
    for voice, name in enumerate(CHORALE_VOICES):
        chorale.part_infos.add(part=voice, name=name)
    for note in sequence.notes:
        if note.part in voice_of_part:
            kept = chorale.notes.add()
            kept.CopyFrom(note)
            kept.instrument = kept.part = voice_of_part[note.part]
    chorale.total_time = max((n.end_time for n in chorale.notes), default=0.0)
    return chorale


def _content_key(sequence):
    notes = sorted((n.instrument, n.pitch, round(n.start_time, 4), round(n.end_time, 4))
                   for n in sequence.notes)
    return hashlib.sha1(repr(notes).encode()).hexdigest()


def bach_chorales(stats=None):
    """Yields the four-voice Bach chorales (about 405) of music21's corpus; reads in ~7 s.

    Files that are not four-part chorales are skipped and counted
    (`chorales_skipped_not_four_voices`), as are exact duplicates of an earlier chorale
    (`chorales_skipped_duplicate`), e.g. a second encoding of the same harmonisation.
    """
    stats = stats if stats is not None else Stats()
    root = music21_corpus_dir()
    seen = set()
    for sequence in io.read_files(chorale_files(), stats=stats, progress=False, root_dir=root):
        chorale = chorale_voices(sequence)
        if chorale is None:
            stats.count("chorales_skipped_not_four_voices")
            continue
        key = _content_key(chorale)
        if key in seen:
            stats.count("chorales_skipped_duplicate")
            continue
        seen.add(key)
        chorale.collection_name = "bach_chorales"
        chorale.id = io.generate_note_sequence_id(chorale.filename, "bach_chorales", "musicxml")
        chorale.sequence_metadata.composers.append("Johann Sebastian Bach")
        chorale.sequence_metadata.genre.append("chorale")
        chorale.sequence_metadata.title = os.path.splitext(
            os.path.basename(chorale.filename))[0].upper().replace("BWV", "BWV ")
        stats.count("chorales_read")
        yield chorale


# --- Folk melodies (ABC, read with music21) --------------------------------------------------

def folk_tune_files():
    root = music21_corpus_dir()
    return [str(p) for name in FOLK_COLLECTIONS for p in sorted((root / name).glob("*.abc"))]


def music21_score_to_sequence(score):
    """A music21 score as a NoteSequence: tied notes merged, grace notes dropped.

    Offsets in quarter notes become seconds through the score's tempo marks (120 qpm where
    none is given, as in note_seq), so the result lines up with note_seq's own readers.
    """
    from music21 import key, meter  # Deferred: music21 is only needed here.

    flat = score.stripTies().flatten()
    sequence = music_pb2.NoteSequence(ticks_per_quarter=220)
    info = sequence.source_info
    info.source_type = info.SCORE_BASED
    info.parser = info.MUSIC21
    segments = []  # (start offset, start seconds, seconds per quarter)
    seconds = 0.0
    for start, end, mark in flat.metronomeMarkBoundaries():
        qpm = mark.getQuarterBPM() or 120.0
        segments.append((float(start), seconds, 60.0 / qpm))
        sequence.tempos.add(time=seconds, qpm=qpm)
        seconds += float(end - start) * 60.0 / qpm

    def to_seconds(offset):
        start, at, per_quarter = next(s for s in reversed(segments) if s[0] <= offset)
        return at + (float(offset) - start) * per_quarter

    for ts in flat.getElementsByClass(meter.TimeSignature):
        sequence.time_signatures.add(time=to_seconds(ts.offset), numerator=ts.numerator,
                                     denominator=ts.denominator)
    for ks in flat.getElementsByClass(key.KeySignature):
        k = ks if isinstance(ks, key.Key) else ks.asKey()
        sequence.key_signatures.add(
            time=to_seconds(ks.offset), key=k.tonic.pitchClass,
            mode=music_pb2.NoteSequence.KeySignature.MINOR if k.mode == "minor" else 0)
    for element in flat.notes:
        if element.quarterLength <= 0:
            continue  # grace note
        velocity = element.volume.velocity or 90  # note_seq's ABC default (mf)
        for pitch in element.pitches:
            sequence.notes.add(pitch=pitch.midi, velocity=velocity,
                               start_time=to_seconds(element.offset),
                               end_time=to_seconds(element.offset + element.quarterLength))
    sequence.total_time = max((n.end_time for n in sequence.notes), default=0.0)
    return sequence


def read_abc_tune_with_music21(abc_text):
    """One ABC tune (text) as a NoteSequence read by music21; raises on unparseable input."""
    from music21 import converter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # music21 warns about every odd ABC token.
        score = converter.parse(abc_text, format="abc")
    sequence = music21_score_to_sequence(score)
    sequence.source_info.encoding_type = sequence.source_info.ABC
    if score.metadata is not None:
        sequence.sequence_metadata.title = score.metadata.title or ""
        number = str(score.metadata.number or "0")
        sequence.reference_number = int(number) if number.isdigit() else 0
    return sequence


def _read_folk_tune(job):
    # Runs in worker processes, so it takes and returns plain picklable values.
    relative_path, text = job
    try:
        sequence = read_abc_tune_with_music21(text)
    except Exception as e:  # music21 raises many types on bad ABC.
        return relative_path, None, f"{type(e).__name__}: {e}"
    if not sequence.notes:
        return relative_path, None, "no notes"
    return relative_path, sequence.SerializeToString(), None


def _folk_jobs(stats):
    root = music21_corpus_dir()
    seen_oneill_numbers = set()
    for path in folk_tune_files():
        relative = os.path.relpath(path, root)
        with open(path, "rb") as f:
            header, tunes = io.split_abc_tunebook(f.read().decode("latin-1"))
        for lines in tunes:
            number = next((line[2:].strip() for line in lines if line.startswith("X:")), "")
            if relative.startswith("oneills1850"):
                # O'Neill's files overlap (two transcriptions of some ranges); the X number
                # is the tune's number in the book, so keep the first of each.
                if number in seen_oneill_numbers:
                    stats.count("folk_tunes_skipped_duplicate")
                    continue
                seen_oneill_numbers.add(number)
            yield relative, "\n".join(header + lines)


def build_folk_melodies(output_dir=None, workers=None, progress=True):
    """Reads every folk tune with music21 and caches them as `folk_melodies.tfrecord`.

    Takes about 4 minutes on 2 cores (music21 parses ~30-100 ms per tune); `folk_melodies`
    runs it by itself the first time. Returns the Stats, also saved as folk_melodies.json.
    """
    output_dir = pathlib.Path(output_dir or data_dir())
    stats = Stats()
    jobs = list(_folk_jobs(stats))
    meter = Progress("reading folk tunes with music21", total=len(jobs), unit="tunes",
                     enabled=progress)
    start = time.monotonic()

    def sequences(results):
        for relative, serialized, error in results:
            meter.update()
            if error:
                stats.count("folk_tunes_failed")
                logger.warning("%s: skipped a tune music21 cannot read: %s", relative, error)
                continue
            sequence = music_pb2.NoteSequence.FromString(serialized)
            sequence.collection_name = "folk_melodies"
            sequence.filename = relative
            sequence.id = io.generate_note_sequence_id(
                f"{relative}_{sequence.reference_number}", "folk_melodies", "abc")
            stats.count("folk_tunes_read")
            yield sequence

    workers = workers or os.cpu_count() or 1
    if workers == 1:
        count = io.write_note_sequences(output_dir / "folk_melodies.tfrecord",
                                        sequences(map(_read_folk_tune, jobs)))
    else:
        # spawn, not fork: the parent may already hold TensorFlow's threads.
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            results = pool.map(_read_folk_tune, jobs, chunksize=16)
            count = io.write_note_sequences(output_dir / "folk_melodies.tfrecord",
                                            sequences(results))
    meter.finish()
    summary = {"sequences": count, "seconds": round(time.monotonic() - start, 1),
               **stats.as_dict()}
    (output_dir / "folk_melodies.json").write_text(json.dumps(summary, indent=2) + "\n")
    return stats


def folk_melodies():
    """Yields the folk tunes (about 10,300), building the cache on first use."""
    cache = data_dir() / "folk_melodies.tfrecord"
    if not cache.exists():
        logger.warning("building the folk_melodies cache in %s (once; a few minutes)", cache)
        build_folk_melodies()
    yield from io.read_note_sequences(cache)


# --- MMA drum grooves ----------------------------------------------------------------------

MMA_LIBRARY_DIRS = ("/usr/share/mma/lib", "/usr/local/share/mma/lib")
MIN_GROOVE_BARS = 8
_DEFGROOVE = re.compile(r"^\s*defgroove\s+(\S+)", re.IGNORECASE | re.MULTILINE)


def list_mma_grooves(library_dir):
    """[(library file, groove name)] for every DefGroove in MMA's library, sorted."""
    grooves = []
    for path in sorted(pathlib.Path(library_dir).rglob("*.mma")):
        names = _DEFGROOVE.findall(path.read_text(encoding="latin-1"))
        unique = {name.lower(): name for name in reversed(names)}  # MMA names ignore case
        grooves += [(str(path), name) for name in names if unique.get(name.lower()) == name
                    and unique.pop(name.lower())]
    return grooves


def _run_mma(mma, script, workdir, name, extra=()):
    script_path = pathlib.Path(workdir) / f"{name}.mma"
    script_path.write_text(script)
    return subprocess.run([mma, "-w", *extra, str(script_path)], capture_output=True,
                          text=True, timeout=120, cwd=workdir)


def _groove_shapes(mma, library_file, names, workdir):
    # Sequence length (bars) and time signature of each groove, from one dry run of MMA.
    script = f"Use {library_file}\n" + "".join(
        f"Groove {n}\nPrint GROOVE {n} $_SeqSize $_TimeSig\n" for n in names)
    result = _run_mma(mma, script, workdir, "shapes", ["-n"])
    shapes = {}
    for line in result.stdout.splitlines():
        if line.startswith("GROOVE "):
            _, name, seq_size, time_signature = line.split()
            shapes[name.lower()] = (int(seq_size), time_signature)
    return shapes


def _render_groove(mma, library_file, name, bars, midi_path, workdir):
    # 'z' silences the chord-based tracks and leaves the drums playing; a fixed RndSeed
    # makes MMA's humanising randomness (timing, velocity) the same on every build.
    script = f"RndSeed 1\nUse {library_file}\nGroove {name}\n" + "".join(
        f"{bar} z\n" for bar in range(1, bars + 1))
    stem = re.sub(r"[^A-Za-z0-9_+-]", "_", name)
    result = _run_mma(mma, script, workdir, stem, ["-f", str(midi_path)])
    if result.returncode != 0 or not os.path.exists(midi_path):
        return (result.stdout + result.stderr).strip().splitlines()[-1:] or ["mma failed"]
    return None


def build_mma_grooves(output_dir=None, mma="mma", library_dir=None, workers=None,
                      progress=True):
    """Renders every groove in MMA's library to a drums-only MIDI file; returns the Stats.

    Needs the `mma` command (Debian/Ubuntu: `apt-get install -y mma`). Each groove plays
    for at least MIN_GROOVE_BARS bars, rounded up to whole repeats of its pattern, at
    MMA's default 120 qpm. Only drum notes are kept; grooves with no drums, or with the
    same drums as an earlier groove (e.g. '50sRockSus' adds strings to '50sRock'), are
    skipped and counted. Output: <output_dir>/<library>/<style>/<groove>.mid plus
    manifest.json, by default under data_dir()/mma_grooves. The result is GPL-2+ like MMA.
    """
    mma_path = shutil.which(mma)
    if mma_path is None:
        raise FileNotFoundError(f"the {mma!r} command is not installed; "
                                f"install it with: apt-get install -y mma")
    library_dir = pathlib.Path(library_dir or next(
        (d for d in MMA_LIBRARY_DIRS if os.path.isdir(d)), MMA_LIBRARY_DIRS[0]))
    if not library_dir.is_dir():
        raise FileNotFoundError(f"{library_dir}: MMA's groove library is not there; "
                                f"pass library_dir=")
    output_dir = pathlib.Path(output_dir or data_dir() / "mma_grooves")
    stats, start, seen, entries = Stats(), time.monotonic(), set(), []
    grooves = list_mma_grooves(library_dir)
    by_file = {}
    for library_file, name in grooves:
        by_file.setdefault(library_file, []).append(name)
    with tempfile.TemporaryDirectory() as workdir:
        jobs = []
        for library_file, names in by_file.items():
            shapes = _groove_shapes(mma_path, library_file, names, workdir)
            relative = os.path.relpath(os.path.splitext(library_file)[0], library_dir)
            for name in names:
                seq_size, time_signature = shapes.get(name.lower(), (1, "?"))
                bars = seq_size * -(-MIN_GROOVE_BARS // seq_size)
                midi = os.path.join(workdir, relative.replace(os.sep, "__") + "__" + name + ".mid")
                jobs.append((library_file, name, bars, midi, relative, time_signature))
        meter = Progress("rendering MMA grooves", total=len(jobs), unit="grooves",
                         enabled=progress)
        with concurrent.futures.ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
            errors = pool.map(lambda j: _render_groove(mma_path, j[0], j[1], j[2], j[3], workdir),
                              jobs)
            for (library_file, name, bars, midi, relative, signature), error in zip(jobs, errors):
                meter.update()
                if error:
                    stats.count("grooves_failed_mma_error")
                    logger.warning("%s: groove %s failed: %s", library_file, name, error[0])
                    continue
                with open(midi, "rb") as f:
                    sequence = io.midi_bytes_to_sequence(f.read(), midi)
                drums = [n for n in sequence.notes if n.is_drum]
                del sequence.notes[:]
                sequence.notes.extend(drums)
                key = _content_key(sequence)
                if not drums or key in seen:
                    stats.count("grooves_skipped_" + ("no_drums" if not drums else "duplicate"))
                    continue
                seen.add(key)
                path = output_dir / relative / (re.sub(r"[^A-Za-z0-9_+-]", "_", name) + ".mid")
                io.write_midi(sequence, path)
                entries.append({"file": str(path.relative_to(output_dir)), "groove": name,
                                "style": relative, "bars": bars, "time_signature": signature})
                stats.count("grooves_written")
        meter.finish()
    version = subprocess.run([mma_path, "-v"], capture_output=True, text=True).stdout.split()
    manifest = {"source": f"MMA {version[-1] if version else '?'} groove library {library_dir}",
                "licence": "GPL-2+ (MMA by Bob van der Poel; rendered MIDI keeps its licence)",
                "grooves_defined": len(grooves), "seconds": round(time.monotonic() - start, 1),
                "stats": stats.as_dict()["counts"], "grooves": entries}
    (output_dir / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return stats


def mma_grooves():
    """Yields the rendered MMA drum grooves; raises FileNotFoundError if not built yet."""
    folder = data_dir() / "mma_grooves"
    if not (folder / "manifest.json").exists():
        raise FileNotFoundError(
            f"the mma_grooves corpus is not built (no {folder / 'manifest.json'}). "
            f"Build it (needs Debian's mma package, ~3 minutes) with:\n  {MMA_BUILD_COMMAND}")
    for sequence in io.read_files(io.iter_music_files(folder), progress=False, root_dir=folder):
        sequence.collection_name = "mma_grooves"
        sequence.sequence_metadata.title = os.path.splitext(os.path.basename(sequence.filename))[0]
        sequence.sequence_metadata.genre.append(os.path.dirname(sequence.filename))
        yield sequence


# --- TensorFlow Datasets -------------------------------------------------------------------

def tfds_sequences(name, split="train"):
    """Yields a TFDS dataset's MIDI examples as NoteSequences (downloads it when online)."""
    import tensorflow_datasets as tfds  # Deferred: heavy, and only for this corpus.

    dataset = tfds.load(name, split=split)
    if "midi" not in dataset.element_spec:
        raise ValueError(f"tfds:{name} has no 'midi' feature (it has "
                         f"{sorted(dataset.element_spec)}); only MIDI datasets can be read")
    for index, example in enumerate(tfds.as_numpy(dataset)):
        example_id = example.get("id", str(index))
        example_id = example_id.decode() if isinstance(example_id, bytes) else example_id
        sequence = io.midi_bytes_to_sequence(example["midi"], f"tfds:{name}/{example_id}")
        sequence.collection_name = name
        sequence.filename = example_id
        sequence.id = io.generate_note_sequence_id(example_id, name, "midi")
        yield sequence


# --- Registry and resolve_input ------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Corpus:
    name: str
    description: str
    licence: str
    approx_count: int
    load: object  # () -> iterator of NoteSequence


CORPORA = {c.name: c for c in (
    Corpus("bach_chorales", "405 four-part Bach chorales (music21 MusicXML); "
           "instruments 0-3 = soprano, alto, tenor, bass", MUSIC21_LICENCE, 405, bach_chorales),
    Corpus("folk_melodies", "10,300 folk melodies: Essen collection + O'Neill's 1850 "
           "(music21 ABC; cached after a first ~4 minute read)", MUSIC21_LICENCE
           + "; Essen: non-commercial distribution permitted", 10300, folk_melodies),
    Corpus("mma_grooves", "drum grooves rendered from MMA's groove library "
           "(build first: build_mma_grooves)", "GPL-2+ (MMA, Bob van der Poel)", 1500,
           mma_grooves),
)}


def list_corpora():
    """[(name, one-line description with licence)] for every named corpus."""
    lines = [(c.name, f"{c.description}. Licence: {c.licence}") for c in CORPORA.values()]
    lines.append(("tfds:<name>", "a TensorFlow Datasets MIDI dataset, e.g. "
                  "tfds:groove/2bar-midionly or tfds:groove/2bar-midionly@validation "
                  "(needs internet the first time). Licence: the dataset's own"))
    return lines


def resolve_input(spec):
    """Turns an input spec into (re-iterable NoteSequences, approximate count or None, text).

    `spec` is a corpus name (see list_corpora), `tfds:<name>[@<split>]`, a folder of music
    files (read recursively), a .tfrecord of NoteSequences, or a single music file.
    """
    spec = str(spec)
    if spec in CORPORA:
        corpus = CORPORA[spec]
        return Sequences(corpus.load, spec), corpus.approx_count, f"{spec}: {corpus.description}"
    if spec.startswith("tfds:"):
        name, _, split = spec[len("tfds:"):].partition("@")
        return (Sequences(lambda: tfds_sequences(name, split or "train"), spec), None,
                f"TensorFlow Datasets {name} ({split or 'train'} split)")
    path = pathlib.Path(spec).expanduser()
    if path.is_dir():
        files = io.iter_music_files(path)
        return (Sequences(lambda: io.read_files(files, root_dir=path), spec), len(files),
                f"folder {path} ({len(files)} music files)")
    if path.is_file() and (".tfrecord" in path.name or path.suffix == ".tfrecords"):
        return (Sequences(lambda: io.read_note_sequences(path), spec), None,
                f"NoteSequence TFRecord {path}")
    if path.is_file() and path.suffix.lower() in io.SUPPORTED_EXTENSIONS:
        sequences = io.read_file(path)
        return Sequences(lambda: sequences, spec), len(sequences), f"music file {path}"
    names = "\n".join(f"  {name}: {text}" for name, text in list_corpora())
    problem = "no such file or folder" if not path.exists() else "not a music file or .tfrecord"
    raise ValueError(f"cannot use {spec!r} as input ({problem}). Give a folder of MIDI/MusicXML/"
                     f"ABC files, a .tfrecord of NoteSequences, a music file, or a corpus:\n"
                     f"{names}")
