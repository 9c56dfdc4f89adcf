"""`resolve_input`: any input spec (a corpus name, tfds:<name>, a folder, a glob, a
TFRecord, a music file, or several of them joined by commas) as re-iterable NoteSequences
(or, with `fast=True`, NoteArrays for the MIDI files, read by worker processes)."""
import glob
import os
import pathlib
import re

from musiczoo.pipelines.readers.corpora import CORPORA, list_corpora
from musiczoo.pipelines.readers.errors import SUPPORTED_EXTENSIONS
from musiczoo.pipelines.readers.files import (iter_music_files, read_file, read_file_arrays,
                                             read_files, read_files_fast)
from musiczoo.pipelines.readers.records import read_note_arrays, read_note_sequences
from musiczoo.pipelines.readers.tfds import tfds_builder, tfds_sequences
from musiczoo.pipelines.stats import Stats


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


def resolve_inputs(spec, fast=False, num_workers=None):
    """`resolve_input` for one spec or several joined by commas (read one after another)."""
    specs = [part.strip() for part in str(spec).split(",") if part.strip()]
    if len(specs) == 1:
        return resolve_input(specs[0], fast, num_workers)
    resolved = [resolve_input(part, fast, num_workers) for part in specs]
    merged = Sequences(lambda stats: (s for seqs, _, _ in resolved for s in _counted(seqs, stats)),
                       spec)
    counts = [count for _, count, _ in resolved]
    total = sum(counts) if all(c is not None for c in counts) else None
    return merged, total, " + ".join(text for _, _, text in resolved)


def _counted(sequences, stats):
    yield from sequences
    stats.merge(sequences.stats)
    sequences.stats = Stats()


def _is_glob(spec):
    return any(char in spec for char in "*?[")


def _files_input(files, root, spec, fast, num_workers, text):
    if fast:
        read = lambda stats: read_files_fast(files, stats, progress=False, root_dir=root,  # noqa: E731
                                             num_workers=num_workers)
    else:
        read = lambda stats: read_files(files, stats, progress=False, root_dir=root)  # noqa: E731
    return Sequences(read, spec), len(files), text


def resolve_input(spec, fast=False, num_workers=None):
    """Turns an input spec into (re-iterable NoteSequences, approximate count or None, text).

    `spec` is a corpus name (see list_corpora), `tfds:<name>[@<split>]`, a folder of music
    files (read recursively), a glob of music files (`midi/**/*.mid`, ids relative to the
    folder before the first wildcard), a .tfrecord of NoteSequences, or a single music file.
    With `fast`, folders, globs and MIDI files yield NoteArrays for the MIDI files they
    hold (`files.read_files_fast`, `num_workers` processes, default all cores), and a
    TFRecord yields NoteArrays read from the records' bytes (`records.read_note_arrays`),
    with the same notes, ids and statistics; corpora and TFDS are unchanged.
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
        files = iter_music_files(path)
        return _files_input(files, path, spec, fast, num_workers,
                            f"folder {path} ({len(files)} music files)")
    if _is_glob(spec) and not path.exists():
        files = sorted(p for p in glob.glob(str(path), recursive=True)
                       if os.path.isfile(p) and os.path.splitext(p)[1].lower()
                       in SUPPORTED_EXTENSIONS)
        if not files:
            raise ValueError(f"{spec!r} matches no MIDI, MusicXML or ABC file")
        # Ids relative to the folder the pattern starts from, as for that folder.
        prefix = re.split(r"[*?\[]", str(path))[0]
        root = pathlib.Path(prefix if prefix.endswith(os.sep) else os.path.dirname(prefix) or ".")
        return _files_input(files, root, spec, fast, num_workers,
                            f"{spec} ({len(files)} music files)")
    if path.is_file() and (".tfrecord" in path.name or path.suffix == ".tfrecords"):
        read = read_note_arrays if fast else read_note_sequences
        return (Sequences(lambda stats: read(path, stats), spec), None,
                f"NoteSequence TFRecord {path}")
    if path.is_file() and path.suffix.lower() in SUPPORTED_EXTENSIONS:
        sequences = read_file_arrays(path) if fast else read_file(path)
        return Sequences(lambda stats: sequences, spec), len(sequences), f"music file {path}"
    names = "\n".join(f"  {name}: {text}" for name, text in list_corpora())
    problem = "no such file or folder" if not path.exists() else "not a music file or .tfrecord"
    raise ValueError(f"cannot use {spec!r} as input ({problem}). Give a folder of MIDI/MusicXML/"
                     f"ABC files, a .tfrecord of NoteSequences, a music file, or a corpus:\n"
                     f"{names}")
