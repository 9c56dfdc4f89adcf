"""The folk_melodies corpus: music21's Essen and O'Neill ABC tunes, read once into a cache.

They are read with music21 rather than note_seq, whose ABC parser rejects two thirds of
them (no rests, tuplets, grace notes, chords or variant endings), in worker processes
(music21 needs 30-100 ms per tune), and cached as a NoteSequence TFRecord in data_dir().
"""
import concurrent.futures
import json
import logging
import multiprocessing
import os
import pathlib
import time

from note_seq.protobuf import music_pb2

from musiczoo.pipelines.readers import abc
from musiczoo.pipelines.readers.cache import data_dir, music21_corpus_dir
from musiczoo.pipelines.readers.files import generate_note_sequence_id
from musiczoo.pipelines.readers.records import read_note_sequences, write_note_sequences
from musiczoo.pipelines.stats import Stats
from musiczoo.progress import Progress

logger = logging.getLogger(__name__)

FOLK_COLLECTIONS = ("essenFolksong", "oneills1850")


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
            sequence.id = generate_note_sequence_id(
                f"{relative}_{sequence.reference_number}", "folk_melodies", "abc")
            stats.count("folk_tunes_read")
            yield sequence

    workers = min(workers or os.cpu_count() or 1, max(1, len(jobs) // 64))
    if workers == 1:
        count = write_note_sequences(output_file, sequences(map(_read_folk_tune, jobs)))
    else:
        # spawn, not fork: the parent may already hold TensorFlow's threads.
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            results = pool.map(_read_folk_tune, jobs, chunksize=16)
            count = write_note_sequences(output_file, sequences(results))
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
    yield from read_note_sequences(cache, stats)
