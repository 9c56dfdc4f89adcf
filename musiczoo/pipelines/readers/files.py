"""Music files (MIDI, MusicXML, ABC) and folders of them -> NoteSequence protos.

Conventions follow Magenta's `convert_dir_to_note_sequences`, so data converted here is
interchangeable with data converted there:
  * `collection_name` is the base name of the folder being converted,
  * `filename` is the file's path relative to that folder,
  * `id` is `/id/<source type>/<collection>/<sha1 of filename>` (ABC: of `<filename>_<X number>`),
  * the TFRecord file written holds one serialized NoteSequence per record (`records`).

Unreadable files are `ReadError`s (`errors`); the batch readers count them per reason.
"""
import hashlib
import logging
import multiprocessing
import os
import pathlib

from musiczoo import outputs
from musiczoo.pipelines.readers import abc, fast_midi
from musiczoo.pipelines.extract import notearrays
from musiczoo.pipelines.readers.errors import (ABC_EXTENSIONS, MIDI_EXTENSIONS,
                                               MUSICXML_EXTENSIONS, SUPPORTED_EXTENSIONS,
                                               ReadError)
from musiczoo.pipelines.readers.errors import read_bytes
from musiczoo.pipelines.readers.midi import midi_bytes_to_sequence, read_midi_file
from musiczoo.pipelines.readers.musicxml import read_musicxml_file
from musiczoo.pipelines.readers.records import write_note_sequences
from musiczoo.pipelines.stats import Stats
from musiczoo.progress import Progress

logger = logging.getLogger(__name__)


def generate_note_sequence_id(filename, collection_name, source_type):
    """Magenta's sequence id: '/id/<source type>/<collection name>/<sha1 of filename>'."""
    fingerprint = hashlib.sha1(filename.encode("utf-8")).hexdigest()
    return f"/id/{source_type.lower()}/{collection_name}/{fingerprint}"


def _set_provenance(sequence, root_dir, path, source_type, id_suffix=""):
    # Magenta's layout: collection = folder converted, filename = path relative to it.
    # NoteArrays (the fast MIDI path) keep the id and filename only.
    root = os.path.abspath(root_dir)
    collection = os.path.basename(root)
    sequence.filename = os.path.relpath(os.path.abspath(path), root)
    sequence.id = generate_note_sequence_id(sequence.filename + id_suffix, collection,
                                            source_type)
    if not isinstance(sequence, notearrays.NoteArrays):
        sequence.collection_name = collection


def content_key(sequence):
    """A fingerprint of a sequence's notes (instrument, pitch, rounded times), so a corpus
    can skip exact duplicates, e.g. a second encoding of the same piece."""
    notes = sorted((n.instrument, n.pitch, round(n.start_time, 4), round(n.end_time, 4))
                   for n in sequence.notes)
    return hashlib.sha1(repr(notes).encode()).hexdigest()


def read_file(path, root_dir=None, stats=None):
    """Reads one MIDI, MusicXML or ABC file into a list of NoteSequences.

    A MIDI or MusicXML file gives one sequence, an ABC file one per tune that note_seq can
    parse (the others are logged and, when `stats` is given, counted as
    `abc_tunes_failed_<reason>`). `root_dir` is the folder the file is being converted as
    part of (default: the file's own folder); it sets `collection_name`, `filename` and `id`
    exactly as Magenta's converter did. Raises ReadError.
    """
    path = str(path)
    root_dir = str(root_dir) if root_dir is not None else os.path.dirname(os.path.abspath(path))
    extension = os.path.splitext(path)[1].lower()
    if extension in MIDI_EXTENSIONS:
        sequences, source_type = read_midi_file(path), "midi"
    elif extension in MUSICXML_EXTENSIONS:
        sequences, source_type = read_musicxml_file(path), "musicxml"
    elif extension in ABC_EXTENSIONS:
        sequences, source_type = abc.read_abc_file(path, stats), "abc"
    else:
        raise ReadError(path, "unsupported_extension", f"got {extension or 'no extension'!r}")
    for sequence in sequences:
        suffix = f"_{sequence.reference_number}" if source_type == "abc" else ""
        _set_provenance(sequence, root_dir, path, source_type, suffix)
    return sequences


def _walk_files(folder, recursive):
    folder = pathlib.Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder}: not a folder")
    pattern = "**/*" if recursive else "*"
    return sorted(str(p) for p in folder.glob(pattern) if p.is_file())


def iter_music_files(folder, recursive=True):
    """Sorted paths of the files under `folder` whose extension we can read."""
    return [p for p in _walk_files(folder, recursive)
            if os.path.splitext(p)[1].lower() in SUPPORTED_EXTENSIONS]


def read_files(paths, stats=None, progress=True, root_dir=None):
    """Yields the NoteSequences of every readable file in `paths`, skipping the rest.

    Each unreadable file is logged in one line and counted as `files_failed_<reason>`;
    the run never stops for a bad file. Also counts `files_read` and `sequences_read`.
    """
    stats = stats if stats is not None else Stats()
    paths = list(paths)
    meter = Progress("reading music files", total=len(paths), unit="files", enabled=progress)
    for path in paths:
        try:
            sequences = read_file(path, root_dir=root_dir, stats=stats)
        except ReadError as e:
            stats.count(f"files_failed_{e.reason}")
            logger.warning("skipped %s", e)
            sequences = []
        else:
            stats.count("files_read")
            stats.count("sequences_read", len(sequences))
        meter.update()
        yield from sequences
    meter.finish(f"{stats['sequences_read']} sequences")


def default_workers():
    """All the cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def read_file_arrays(path, root_dir=None, stats=None):
    """`read_file`, with MIDI files read straight into NoteArrays (`fast_midi`).

    Returns a list of NoteArrays (a MIDI file the compiled pass accepts) or NoteSequences
    (other formats, and the MIDI files it leaves to note_seq: these then read exactly as
    `read_file` reads them). Ids and filenames follow Magenta's convention, as there.
    Raises ReadError.
    """
    path = str(path)
    if os.path.splitext(path)[1].lower() in MIDI_EXTENSIONS and fast_midi.available():
        data = read_bytes(path)
        fast = fast_midi.decode(data, path)
        if fast is None:  # unusual: the reference reader accepts it or says why not
            sequences = [midi_bytes_to_sequence(data, path)]
        else:
            sequences = [fast.arrays]
        root_dir = str(root_dir) if root_dir is not None else os.path.dirname(os.path.abspath(path))
        for sequence in sequences:
            _set_provenance(sequence, root_dir, path, "midi")
        return sequences
    return read_file(path, root_dir=root_dir, stats=stats)


def _read_counted(path, root_dir, fast):
    """One file: (sequences, counts, error or None)."""
    stats = Stats()
    try:
        items = (read_file_arrays if fast else read_file)(path, root_dir=root_dir, stats=stats)
    except ReadError as e:
        stats.count(f"files_failed_{e.reason}")
        return [], stats, str(e)
    stats.count("files_read")
    stats.count("sequences_read", len(items))
    return items, stats, None


def _read_chunk(args):
    """Files in a worker process; NoteSequences travel back serialized."""
    paths, root_dir, fast = args
    results = []
    for path in paths:
        items, stats, error = _read_counted(path, root_dir, fast)
        results.append(([item if isinstance(item, notearrays.NoteArrays)
                         else item.SerializeToString() for item in items], stats, error))
    return results


# Below this many files the work is not worth starting processes for.
MIN_FILES_PER_WORKER = 32


def read_files_fast(paths, stats=None, progress=True, root_dir=None, num_workers=None,
                    fast=True):
    """`read_files` for building datasets: MIDI files become NoteArrays directly (`fast`),
    and files are read by `num_workers` processes (default: all cores), in order.

    Yields NoteArrays and NoteSequences, in the order of `paths`, counting exactly what
    `read_files` counts; the output is the same whatever the number of workers.
    """
    from note_seq.protobuf import music_pb2

    stats = stats if stats is not None else Stats()
    paths = list(paths)
    if fast:
        fast_midi.warm_up()  # compile (or load) once, before any worker forks
    workers = num_workers if num_workers else default_workers()
    workers = max(1, min(workers, len(paths) // MIN_FILES_PER_WORKER))
    meter = Progress("reading music files", total=len(paths), unit="files", enabled=progress)
    if workers == 1:
        results = (_read_counted(path, root_dir, fast) for path in paths)
        pool = None
    else:
        # fork: the parent has not started TensorFlow here, and the workers inherit the
        # compiled reader; chunks of files keep the inter-process traffic small.
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        pool = multiprocessing.get_context(method).Pool(workers)
        size = max(1, min(64, len(paths) // (workers * 8)))
        chunks = [(paths[i:i + size], root_dir, fast) for i in range(0, len(paths), size)]
        results = (result for chunk in pool.imap(_read_chunk, chunks) for result in chunk)
    try:
        for items, counts, error in results:
            stats.merge(counts)
            if error:
                logger.warning("skipped %s", error)
            meter.update()
            for item in items:
                if isinstance(item, bytes):
                    item = music_pb2.NoteSequence.FromString(item)
                yield item
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    meter.finish(f"{stats['sequences_read']} sequences")


def convert_directory(input_dir, output_file, recursive=True, progress=True, overwrite=False):
    """Converts every music file under `input_dir` into one TFRecord of NoteSequences.

    Magenta's `convert_dir_to_note_sequences`, except that subfolders are included by
    default and bad files are counted per reason instead of only logged. Returns the Stats
    (`files_read`, `files_failed_<reason>`, `files_ignored_unsupported_extension`,
    `sequences_read`, `sequences_written`, `abc_tunes_failed_<reason>`). An existing
    output is replaced only with `overwrite`; no readable file means no output at all.
    """
    if os.path.isdir(output_file):
        raise IsADirectoryError(f"{output_file}: is a folder; give the TFRecord file to write, "
                                f"e.g. {os.path.join(output_file, 'notesequences.tfrecord')}")
    outputs.output_dir(os.path.dirname(os.path.abspath(output_file)))  # before any reading
    outputs.check_target(output_file, overwrite)
    stats = Stats()
    all_files = _walk_files(input_dir, recursive)
    music_files = [p for p in all_files if os.path.splitext(p)[1].lower() in SUPPORTED_EXTENSIONS]
    if len(all_files) > len(music_files):
        stats.count("files_ignored_unsupported_extension", len(all_files) - len(music_files))
    sequences = read_files(music_files, stats=stats, progress=progress, root_dir=input_dir)
    empty = (f"{input_dir}: no readable MIDI, MusicXML or ABC files found"
             + ("" if recursive else " (subfolders not searched)") + "; nothing was written")
    stats.count("sequences_written", write_note_sequences(output_file, sequences, overwrite,
                                                          empty_error=empty))
    return stats
