"""Named corpora that work offline, and `resolve_input`, which turns any input spec into sequences.

bach_chorales and folk_melodies come with music21; folk_melodies is read with music21
rather than note_seq, whose ABC parser rejects two thirds of its tunes (no rests, tuplets,
grace notes, chords or variant endings), and cached. mma_grooves is rendered once from
Debian's `mma` groove library (see mma.py). Built corpora live in $MUSICZOO_DATA
(~/.cache/musiczoo).
"""
import concurrent.futures
import dataclasses
import hashlib
import json
import logging
import multiprocessing
import os
import pathlib
import time

from musiczoo.pipelines.readers import abc, files as io
from musiczoo.pipelines.readers.files import music_pb2
from musiczoo.pipelines.stats import Stats
from musiczoo.pipelines.readers.tfds import tfds_builder, tfds_sequences  # noqa: F401
from musiczoo.progress import Progress

logger = logging.getLogger(__name__)

# Chorale voices in instrument order: instrument 0 is the soprano (the chorale melody).
CHORALE_VOICES = ("Soprano", "Alto", "Tenor", "Bass")
FOLK_COLLECTIONS = ("essenFolksong", "oneills1850")
MUSIC21_LICENCE = ("music21 corpus: free for non-commercial use per its licence notes "
                   "(corpus/license.txt, essenFolksong/license.txt)")


def data_dir():
    """Where built corpora are kept: $MUSICZOO_DATA, default ~/.cache/musiczoo."""
    return pathlib.Path(os.environ.get("MUSICZOO_DATA") or "~/.cache/musiczoo").expanduser()


def music21_corpus_dir():
    import music21  # Deferred: only the music21 corpora need it.

    return pathlib.Path(music21.__file__).parent / "corpus"


class Sequences:
    """A re-iterable stream of NoteSequences: each `iter()` starts reading afresh.

    `make_iterator(stats)` counts what it reads and skips (unreadable files, voices
    dropped) into `self.stats`, so a dataset run can report the whole story.
    """

    def __init__(self, make_iterator, description=""):
        self._make_iterator, self.description = make_iterator, description
        self.stats = Stats()

    def __iter__(self):
        return iter(self._make_iterator(self.stats))


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


def _read_folk_tune(job):
    # Runs in worker processes, so it takes and returns plain picklable values.
    relative_path, number, text = job
    try:
        sequence = abc.read_abc_tune_with_music21(text)
    except Exception as e:  # music21 raises many types on bad ABC.
        return relative_path, number, None, f"{type(e).__name__}: {e}"
    if not sequence.notes:
        return relative_path, number, None, "no notes"
    return relative_path, number, sequence.SerializeToString(), None


def _folk_jobs(files, stats):
    root = music21_corpus_dir()
    seen_oneill_numbers = set()
    for path in files:
        relative = os.path.relpath(path, root)
        with open(path, "rb") as f:
            header, tunes = abc.split_abc_tunebook(abc.decode_abc(f.read()))
        for lines in tunes:
            number = next((line[2:].strip() for line in lines if line.startswith("X:")), "?")
            if relative.startswith("oneills1850"):
                # O'Neill's files overlap (two transcriptions of some ranges); the X number
                # is the tune's number in the book, so keep the first of each.
                if number in seen_oneill_numbers:
                    stats.count("folk_tunes_skipped_duplicate")
                    continue
                seen_oneill_numbers.add(number)
            yield relative, number, "\n".join(header + lines)


def folk_cache_path():
    # The version changes whenever reading rules change, so old caches are not reused.
    return data_dir() / "folk_melodies-v1.tfrecord"


def build_folk_melodies(output_file=None, workers=None, progress=True, files=None):
    """Reads the folk tunes with music21 into a NoteSequence TFRecord; returns the Stats.

    Takes about 5 minutes on 2 cores (music21 needs 30-100 ms per tune); `folk_melodies`
    runs it by itself the first time. `files` (default: all of folk_tune_files()) is for
    building from a subset. The Stats are also saved next to the output as .json.
    """
    output_file = pathlib.Path(output_file or folk_cache_path())
    stats = Stats()
    jobs = list(_folk_jobs(files or folk_tune_files(), stats))
    meter = Progress("reading folk tunes with music21", total=len(jobs), unit="tunes",
                     enabled=progress)
    start = time.monotonic()

    def sequences(results):
        for relative, number, serialized, error in results:
            meter.update()
            if error:
                stats.count("folk_tunes_failed")
                logger.warning("%s: skipped tune X:%s, music21 cannot read it: %s",
                               relative, number, error)
                continue
            sequence = music_pb2.NoteSequence.FromString(serialized)
            sequence.collection_name = "folk_melodies"
            sequence.filename = relative
            sequence.id = io.generate_note_sequence_id(
                f"{relative}_{sequence.reference_number}", "folk_melodies", "abc")
            stats.count("folk_tunes_read")
            yield sequence

    workers = min(workers or os.cpu_count() or 1, max(1, len(jobs) // 64))
    if workers == 1:
        count = io.write_note_sequences(output_file, sequences(map(_read_folk_tune, jobs)))
    else:
        # spawn, not fork: the parent may already hold TensorFlow's threads.
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            results = pool.map(_read_folk_tune, jobs, chunksize=16)
            count = io.write_note_sequences(output_file, sequences(results))
    meter.finish()
    summary = {"sequences": count, "seconds": round(time.monotonic() - start, 1),
               **stats.as_dict()}
    output_file.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    return stats


def folk_melodies(stats=None):
    """Yields the folk tunes (about 10,350), building the cache on first use."""
    cache = folk_cache_path()
    if not cache.exists():
        logger.warning("building the folk_melodies cache %s (once, about 5 minutes)", cache)
        build_folk_melodies()
    yield from io.read_note_sequences(cache, stats)


# --- Registry and resolve_input ------------------------------------------------------------

def _mma_grooves(stats):
    from musiczoo.pipelines.readers import mma  # Deferred: mma imports data_dir from this module.

    return mma.mma_grooves(stats)


def _mma_grooves_dir():
    from musiczoo.pipelines.readers import mma

    return mma.mma_grooves_dir()


@dataclasses.dataclass(frozen=True)
class Corpus:
    name: str
    description: str
    licence: str
    approx_count: int
    load: object  # (stats) -> iterator of NoteSequence
    check: object = None  # () -> None, raises when the corpus cannot be read yet


def bach_soprano(stats=None):
    """The soprano line (instrument 0) of every chorale: the chorale melodies."""
    for chorale in bach_chorales(stats):
        soprano = [note for note in chorale.notes if note.instrument == 0]
        del chorale.notes[:]
        chorale.notes.extend(soprano)
        chorale.id += "#soprano"
        yield chorale


CORPORA = {c.name: c for c in (
    Corpus("bach_chorales", "404 four-part Bach chorales (music21's MusicXML); instruments "
           "0-3 = soprano, alto, tenor, bass", MUSIC21_LICENCE, 404, bach_chorales),
    Corpus("bach_soprano", "the soprano lines of the 404 chorales (the chorale melodies)",
           MUSIC21_LICENCE, 404, bach_soprano),
    Corpus("folk_melodies", "10,351 folk melodies, Essen collection + O'Neill's 1850 (music21's "
           "ABC; the first use reads them once, ~5 minutes)",
           MUSIC21_LICENCE + "; Essen: non-commercial use only", 10351, folk_melodies),
    Corpus("mma_grooves", "1,216 drum grooves rendered from MMA's groove library (build "
           "once with build_mma_grooves)", "GPL-2+ (MMA by Bob van der Poel)", 1216,
           _mma_grooves, _mma_grooves_dir),
)}


def list_corpora():
    """[(name, one-line description with licence)] for every named corpus."""
    lines = [(c.name, f"{c.description}. Licence: {c.licence}") for c in CORPORA.values()]
    lines.append(("tfds:<name>", "a TensorFlow Datasets MIDI dataset, e.g. "
                  "tfds:groove/2bar-midionly or tfds:groove/2bar-midionly@validation "
                  "(needs internet the first time). Licence: the dataset's own"))
    return lines


def resolve_inputs(spec):
    """`resolve_input` for one spec or several joined by commas (read one after another)."""
    specs = [part.strip() for part in str(spec).split(",") if part.strip()]
    if len(specs) == 1:
        return resolve_input(specs[0])
    resolved = [resolve_input(part) for part in specs]
    merged = Sequences(lambda stats: (s for seqs, _, _ in resolved for s in _counted(seqs, stats)),
                       spec)
    counts = [count for _, count, _ in resolved]
    total = sum(counts) if all(c is not None for c in counts) else None
    return merged, total, " + ".join(text for _, _, text in resolved)


def _counted(sequences, stats):
    yield from sequences
    stats.merge(sequences.stats)
    sequences.stats = Stats()


def resolve_input(spec):
    """Turns an input spec into (re-iterable NoteSequences, approximate count or None, text).

    `spec` is a corpus name (see list_corpora), `tfds:<name>[@<split>]`, a folder of music
    files (read recursively), a .tfrecord of NoteSequences, or a single music file.
    """
    spec = str(spec)
    if spec in CORPORA:
        corpus = CORPORA[spec]
        if corpus.check:
            corpus.check()
        return Sequences(corpus.load, spec), corpus.approx_count, f"{spec}: {corpus.description}"
    if spec.startswith("tfds:"):
        name, _, split = spec[len("tfds:"):].partition("@")
        builder = tfds_builder(name)  # fails now, in one line, when it cannot be read
        return (Sequences(lambda stats: tfds_sequences(name, split or "train", stats, builder),
                          spec), None, f"TensorFlow Datasets {name} ({split or 'train'} split)")
    path = pathlib.Path(spec).expanduser()
    if path.is_dir():
        files = io.iter_music_files(path)
        sequences = Sequences(
            lambda stats: io.read_files(files, stats, progress=False, root_dir=path), spec)
        return sequences, len(files), f"folder {path} ({len(files)} music files)"
    if path.is_file() and (".tfrecord" in path.name or path.suffix == ".tfrecords"):
        return (Sequences(lambda stats: io.read_note_sequences(path, stats), spec), None,
                f"NoteSequence TFRecord {path}")
    if path.is_file() and path.suffix.lower() in io.SUPPORTED_EXTENSIONS:
        sequences = io.read_file(path)
        return Sequences(lambda stats: sequences, spec), len(sequences), f"music file {path}"
    names = "\n".join(f"  {name}: {text}" for name, text in list_corpora())
    problem = "no such file or folder" if not path.exists() else "not a music file or .tfrecord"
    raise ValueError(f"cannot use {spec!r} as input ({problem}). Give a folder of MIDI/MusicXML/"
                     f"ABC files, a .tfrecord of NoteSequences, a music file, or a corpus:\n"
                     f"{names}")
