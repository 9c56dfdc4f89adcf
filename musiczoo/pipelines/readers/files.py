"""Music files (MIDI, MusicXML, ABC) <-> NoteSequence protos, and TFRecord files of them.

Conventions follow Magenta's `convert_dir_to_note_sequences`, so data converted here is
interchangeable with data converted there:
  * `collection_name` is the base name of the folder being converted,
  * `filename` is the file's path relative to that folder,
  * `id` is `/id/<source type>/<collection>/<sha1 of filename>` (ABC: of `<filename>_<X number>`),
  * a TFRecord file holds one serialized `music_pb2.NoteSequence` per record, uncompressed.

Every failure to read a music file is a `ReadError` naming the file and the problem, with a
short `reason` key that the batch readers turn into statistics (`files_failed_<reason>`).
Input is untrusted: `limits` bounds what one file may cost before it is parsed, and every
NoteSequence read is checked (`check_sequence`) before it enters the pipelines.
"""
import hashlib
import io as io_module
import logging
import math
import os
import pathlib
import re
import shutil
import tempfile
import warnings

with warnings.catch_warnings():
    # note_seq imports pydub, which warns about a missing ffmpeg that we never use.
    warnings.filterwarnings("ignore", message="Couldn't find ffmpeg")
    from note_seq import midi_io, musicxml_reader
    from note_seq.protobuf import music_pb2

from musiczoo import outputs
from musiczoo.pipelines.readers import limits
from musiczoo.pipelines.stats import Stats
from musiczoo.progress import Progress

logger = logging.getLogger(__name__)

MIDI_EXTENSIONS = (".mid", ".midi", ".kar")
MUSICXML_EXTENSIONS = (".xml", ".mxl", ".musicxml")
ABC_EXTENSIONS = (".abc",)
SUPPORTED_EXTENSIONS = MIDI_EXTENSIONS + MUSICXML_EXTENSIONS + ABC_EXTENSIONS

# reason key -> what it means, used to build ReadError messages.
READ_ERROR_REASONS = {
    "missing_file": "no such file",
    "unreadable_file": "cannot be read",
    "empty_file": "the file is empty",
    "unsupported_extension": "unsupported extension; supported: " + " ".join(SUPPORTED_EXTENSIONS),
    "not_midi": "not a MIDI file, no 'MThd' header",
    "corrupt_midi": "corrupt or truncated MIDI",
    "unsupported_midi": "a MIDI file in a form that cannot be read",
    "midi_too_long": "MIDI file too long to read safely",
    "midi_too_many_events": "MIDI file with too many events to read safely",
    "file_too_large": "file too large to read safely",
    "unparseable_musicxml": "unparseable MusicXML",
    "no_abc_tunes": "no ABC tune in it could be read",
    "corrupt_tfrecord": "corrupt or truncated TFRecord file",
    "not_a_note_sequence": "a record is not a serialized NoteSequence",
    "invalid_sequence": "NoteSequence with impossible values",
    "sequence_too_long": "NoteSequence too long to process safely",
    "sequence_too_many_events": "NoteSequence with too many events to process safely",
}


class ReadError(ValueError):
    """A music or record file could not be read; `reason` is a short key for statistics."""

    def __init__(self, path, reason, detail=""):
        self.path = str(path)
        self.reason = reason
        self.detail = detail
        message = f"{self.path}: {READ_ERROR_REASONS.get(reason, reason)}"
        super().__init__(message + (f" ({detail})" if detail else ""))


def generate_note_sequence_id(filename, collection_name, source_type):
    """Magenta's sequence id: '/id/<source type>/<collection name>/<sha1 of filename>'."""
    fingerprint = hashlib.sha1(filename.encode("utf-8")).hexdigest()
    return f"/id/{source_type.lower()}/{collection_name}/{fingerprint}"


def _set_provenance(sequence, root_dir, path, source_type, id_suffix=""):
    # Magenta's layout: collection = folder converted, filename = path relative to it.
    root = os.path.abspath(root_dir)
    sequence.collection_name = os.path.basename(root)
    sequence.filename = os.path.relpath(os.path.abspath(path), root)
    sequence.id = generate_note_sequence_id(
        sequence.filename + id_suffix, sequence.collection_name, source_type)


def _read_bytes(path):
    if not os.path.exists(path):
        raise ReadError(path, "missing_file")
    try:
        with open(path, "rb") as f:
            # Never more than the limit into memory, however large the file claims to be.
            data = f.read(limits.MAX_FILE_BYTES + 1)
    except OSError as e:
        raise ReadError(path, "unreadable_file", e.strerror or str(e)) from e
    if not data:
        raise ReadError(path, "empty_file")
    if len(data) > limits.MAX_FILE_BYTES:
        raise ReadError(path, "file_too_large", f"over {limits.MAX_FILE_BYTES:,} bytes, "
                                                "the limit")
    return data


def _within_limits(source, check, *args):
    """Runs a `limits` check; its LimitError becomes a ReadError naming `source`."""
    try:
        return check(*args)
    except limits.LimitError as e:
        raise ReadError(source, e.reason, e.detail) from None


def check_sequence(sequence, source="<sequence>"):
    """Returns `sequence` if the pipelines can safely take it, else raises ReadError.

    For every NoteSequence from outside (a music file, a TFRecord, TFDS, a primer):
    finite non-negative times, end >= start, pitches and velocities 0..127, positive
    tempos, sane time signatures, and bounded length and note count (`limits`).
    """
    _within_limits(source, limits.check_sequence, sequence)
    return sequence


def midi_bytes_to_sequence(data, source="<bytes>"):
    """Parses the bytes of a Standard MIDI File; `source` names it in errors.

    The bytes are scanned first (`limits.scan_midi`), so a file that would cost more than
    the limits allow (e.g. one huge delta-time) is refused before pretty_midi sees it.
    """
    if not data:
        raise ReadError(source, "empty_file")
    _within_limits(source, limits.scan_midi, data)
    try:
        sequence = midi_io.midi_to_note_sequence(data)
    except Exception as e:  # pretty_midi/mido raise many unrelated types on bad input.
        cause = e.__context__ or e  # note_seq re-raises pretty_midi's error as a string
        detail = ("the data ends early" if isinstance(cause, EOFError)
                  else f"{type(cause).__name__}: {cause}")
        raise ReadError(source, "corrupt_midi", detail) from e
    return check_sequence(sequence, source)


def _read_midi(path):
    return [midi_bytes_to_sequence(_read_bytes(path), path)]


def _read_musicxml(path):
    _read_bytes(path)  # Clear errors for missing, empty or huge files before the XML parser.
    if path.lower().endswith(".mxl"):
        _within_limits(path, limits.check_zip, path)  # a zip bomb, before note_seq unzips it
    try:
        # note_seq only unzips names ending in lower-case '.mxl', so 'X.MXL' goes via a copy.
        if not (path.lower().endswith(".mxl") and not path.endswith(".mxl")):
            sequence = musicxml_reader.musicxml_file_to_sequence_proto(path)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                copy = os.path.join(tmp, "score.mxl")
                shutil.copyfile(path, copy)
                sequence = musicxml_reader.musicxml_file_to_sequence_proto(copy)
    except Exception as e:  # XML, zip and note_seq errors alike mean: cannot read this score.
        raise ReadError(path, "unparseable_musicxml", f"{type(e).__name__}: {e}") from e
    return [check_sequence(sequence, path)]


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
        sequences, source_type = _read_midi(path), "midi"
    elif extension in MUSICXML_EXTENSIONS:
        sequences, source_type = _read_musicxml(path), "musicxml"
    elif extension in ABC_EXTENSIONS:
        from musiczoo.pipelines.readers import abc  # Deferred: abc imports ReadError from here.

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


def end_at_bar_line(sequence):
    """Sets `total_time` to the first bar line at or after the end of the music (its
    notes, or a longer `total_time` already set, e.g. the generated length), so a
    generated piece loops in time. The bar is taken from the first tempo and time
    signature (default 120 qpm, 4/4). Returns the sequence."""
    qpm = sequence.tempos[0].qpm if sequence.tempos else 120.0
    numerator, denominator = 4, 4
    if sequence.time_signatures:
        numerator = sequence.time_signatures[0].numerator or 4
        denominator = sequence.time_signatures[0].denominator or 4
    bar = numerator * 4.0 / denominator * 60.0 / qpm
    end = max([sequence.total_time] + [note.end_time for note in sequence.notes])
    bars = max(1, math.ceil(end / bar - 1e-6))  # float slack: 3.9999999 s is bar 2's end
    sequence.total_time = bars * bar
    return sequence


def midi_bytes(sequence):
    """A NoteSequence as the bytes of a Standard MIDI File that ends (end of track, in
    every track) at `sequence.total_time`, or at its last event if that is later.

    pretty_midi alone ends each track one tick after its last event, so a 2-bar loop
    whose last hit is early in bar 2 would be written 3.6 s long instead of 4.0 s."""
    import mido

    buffer = io_module.BytesIO()
    midi = midi_io.note_sequence_to_pretty_midi(sequence)
    midi.write(buffer)
    end_tick = midi.time_to_tick(sequence.total_time) if sequence.total_time > 0 else 0
    parsed = mido.MidiFile(file=io_module.BytesIO(buffer.getvalue()))
    for track in parsed.tracks:
        if not track or track[-1].type != "end_of_track":
            continue
        before = sum(message.time for message in track[:-1])
        track[-1].time = max(end_tick - before, 0)
    buffer = io_module.BytesIO()
    parsed.save(file=buffer)
    return buffer.getvalue()


def write_midi_files(sequences, output_dir, stem, suffixes=None, overwrite=False):
    """Writes generated sequences into `output_dir`, each ending at its last bar line;
    returns the paths. Names: `<stem>_<run tag>_001.mid`, ... (never replacing an
    earlier run's files), or with `overwrite` `<stem>_001.mid`, ... replaced in place.
    `stem` (a config name: data from a bundle) is made a safe file name."""
    suffixes = suffixes or [f"{n:03d}" for n in range(1, len(sequences) + 1)]
    data = [midi_bytes(end_at_bar_line(sequence)) for sequence in sequences]
    return outputs.write_batch(output_dir, stem, suffixes, lambda i, f: f.write(data[i]),
                               overwrite=overwrite)


def write_midi(sequence, path, overwrite=True):
    """Writes a NoteSequence as a Standard MIDI File (parent folders are created),
    atomically; with overwrite=False an existing file is an error."""
    path = pathlib.Path(path)
    outputs.output_dir(path.parent)
    outputs.write_bytes(path, midi_bytes(sequence), overwrite=overwrite)
    return path


def write_note_sequences(path, sequences, overwrite=True, empty_error=None):
    """Writes NoteSequences to a TFRecord file in Magenta's layout; returns how many.

    Writes to a temporary name first, so an interrupted run never leaves a short file
    under the real name; an existing file is replaced only with `overwrite`, and never
    when it is not a regular file (a device, a folder). With `empty_error` (a message),
    writing no sequence raises ValueError(empty_error) and leaves no file.
    """
    import tensorflow as tf  # Deferred: importing TensorFlow takes seconds.

    path = pathlib.Path(path)
    outputs.output_dir(path.parent)
    outputs.check_target(path, overwrite)
    count = 0
    with outputs.atomic_path(path, overwrite) as partial:
        try:
            with tf.io.TFRecordWriter(partial) as writer:
                for sequence in sequences:
                    writer.write(sequence.SerializeToString())
                    count += 1
        except tf.errors.OpError as error:  # TF reports write failures as its own errors
            raise outputs.OutputError(path, f"cannot be written: {error.message}") from None
        if not count and empty_error:
            raise ValueError(empty_error)
    return count


def read_note_sequences(path, stats=None):
    """Yields the NoteSequences in a TFRecord file (Magenta's `notesequences.tfrecord`).

    Record checksums are verified; a damaged file raises ReadError naming the file and the
    record index. A record that is a NoteSequence the pipelines cannot safely take (see
    `check_sequence`) is logged and skipped, and counted as `records_failed_<reason>` when
    `stats` is given. Gzip-compressed files are recognised by their magic bytes.
    """
    import tensorflow as tf  # Deferred: importing TensorFlow takes seconds.

    path = str(path)
    if not os.path.isfile(path):
        raise ReadError(path, "missing_file")
    with open(path, "rb") as f:
        compression = "GZIP" if f.read(2) == b"\x1f\x8b" else ""
    records = iter(tf.data.TFRecordDataset(path, compression_type=compression))
    index = 0
    while True:
        try:
            record = next(records)
        except StopIteration:
            return
        except tf.errors.OpError as e:  # DataLossError: bad checksum or truncated record.
            # Keep TF's own words ("corrupted record at 17814"), not its op-name decoration.
            message = re.sub(r"\{\{.*?\}\}\s*|\s*\[Op:.*$", "", e.message)
            raise ReadError(path, "corrupt_tfrecord", f"record {index}: {message}") from None
        try:
            sequence = music_pb2.NoteSequence.FromString(record.numpy())
        except Exception as e:  # protobuf's DecodeError
            raise ReadError(path, "not_a_note_sequence", f"record {index}: {e}") from None
        source = f"{path}: record {index}"
        index += 1
        try:
            check_sequence(sequence, source)
        except ReadError as e:
            logger.warning("skipped %s", e)
            if stats is not None:
                stats.count(f"records_failed_{e.reason}")
            continue
        yield sequence


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
