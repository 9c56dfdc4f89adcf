"""Music files (MIDI, MusicXML, ABC) <-> NoteSequence protos, and TFRecord files of them.

Conventions follow Magenta's `convert_dir_to_note_sequences`, so data converted here is
interchangeable with data converted there:
  * `collection_name` is the base name of the folder being converted,
  * `filename` is the file's path relative to that folder,
  * `id` is `/id/<source type>/<collection>/<sha1 of filename>` (ABC: of `<filename>_<X number>`),
  * a TFRecord file holds one serialized `music_pb2.NoteSequence` per record, uncompressed.

Every failure to read a music file is a `ReadError` naming the file and the problem, with a
short `reason` key that the batch readers turn into statistics (`files_failed_<reason>`).
"""
import collections
import hashlib
import logging
import os
import pathlib
import re
import shutil
import tempfile
import warnings

with warnings.catch_warnings():
    # note_seq imports pydub, which warns about a missing ffmpeg that we never use.
    warnings.filterwarnings("ignore", message="Couldn't find ffmpeg")
    from note_seq import abc_parser, constants, midi_io, musicxml_reader
    from note_seq.protobuf import music_pb2

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
    "unparseable_musicxml": "unparseable MusicXML",
    "no_abc_tunes": "no ABC tune in it could be read",
    "corrupt_tfrecord": "corrupt or truncated TFRecord file",
    "not_a_note_sequence": "a record is not a serialized NoteSequence",
}

# note_seq's ABC exceptions -> our reason keys (most specific class first).
_ABC_ERROR_REASONS = (
    (abc_parser.DuplicateReferenceNumberError, "duplicate_reference_number"),
    (abc_parser.ChordError, "chord"),
    (abc_parser.TupletError, "tuplet"),
    (abc_parser.VariantEndingError, "variant_ending"),
    (abc_parser.RepeatParseError, "repeat"),
    (abc_parser.MultiVoiceError, "multiple_voices"),
    (abc_parser.PartError, "parts"),
    (abc_parser.InvalidCharacterError, "invalid_character"),
    (abc_parser.ABCParseError, "parse_error"),
)


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
            data = f.read()
    except OSError as e:
        raise ReadError(path, "unreadable_file", e.strerror or str(e)) from e
    if not data:
        raise ReadError(path, "empty_file")
    return data


def midi_bytes_to_sequence(data, source="<bytes>"):
    """Parses the bytes of a Standard MIDI File; `source` names it in errors."""
    if not data:
        raise ReadError(source, "empty_file")
    if not data.startswith(b"MThd"):
        raise ReadError(source, "not_midi", f"starts with {data[:4]!r}")
    try:
        return midi_io.midi_to_note_sequence(data)
    except Exception as e:  # pretty_midi/mido raise many unrelated types on bad input.
        cause = e.__context__ or e  # note_seq re-raises pretty_midi's error as a string
        detail = ("the data ends early" if isinstance(cause, EOFError)
                  else f"{type(cause).__name__}: {cause}")
        raise ReadError(source, "corrupt_midi", detail) from e


def _read_midi(path):
    return [midi_bytes_to_sequence(_read_bytes(path), path)]


def _read_musicxml(path):
    _read_bytes(path)  # Clear errors for missing or empty files before the XML parser sees them.
    try:
        # note_seq only unzips names ending in lower-case '.mxl', so 'X.MXL' goes via a copy.
        if not (path.lower().endswith(".mxl") and not path.endswith(".mxl")):
            return [musicxml_reader.musicxml_file_to_sequence_proto(path)]
        with tempfile.TemporaryDirectory() as tmp:
            copy = os.path.join(tmp, "score.mxl")
            shutil.copyfile(path, copy)
            return [musicxml_reader.musicxml_file_to_sequence_proto(copy)]
    except Exception as e:  # XML, zip and note_seq errors alike mean: cannot read this score.
        raise ReadError(path, "unparseable_musicxml", f"{type(e).__name__}: {e}") from e


def abc_error_reason(error):
    """Short statistics key for a note_seq ABC exception."""
    if isinstance(error, abc_parser.InvalidCharacterError) and (
            "b'z'" in str(error) or "b'x'" in str(error)):
        return "rest"  # note_seq has no support for rests (z, x) at all.
    if isinstance(error, abc_parser.InvalidCharacterError) and "b'{'" in str(error):
        return "grace_notes"
    for error_type, reason in _ABC_ERROR_REASONS:
        if isinstance(error, error_type):
            return reason
    return type(error).__name__.lower()


def split_abc_tunebook(text):
    """Splits ABC text into (header lines, [tune lines, ...]) the way note_seq does.

    Tunes are separated by blank lines; a first section without an 'X:' field is a file
    header whose fields apply to every tune.
    """
    sections, current = [], []
    for line in text.splitlines():
        line = line.strip()
        if line:
            current.append(line)
        elif current:
            sections.append(current)
            current = []
    if current:
        sections.append(current)
    header = []
    if len(sections) > 1 and not any(line.startswith("X:") for line in sections[0]):
        header = sections.pop(0)
    return header, sections


def _tune_label(lines):
    fields = {line[0]: line[2:].strip() for line in lines if line[1:2] == ":"}
    return f"X:{fields.get('X', '?')} {fields.get('T', '')!r}"


def decode_abc(data):
    """ABC bytes as text: UTF-8, else Latin-1 (which older collections use)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _read_abc(path, stats):
    header, tunes = split_abc_tunebook(decode_abc(_read_bytes(path)))
    sequences, failures, seen = [], collections.Counter(), set()
    first_error = None
    for lines in tunes:
        try:
            sequence = abc_parser.ABCTune(header + lines).note_sequence
            # Magenta's ids are '<file>_<X>', so a repeated X would repeat an id (note_seq
            # rejects the whole file instead; we only skip the repeat).
            if sequence.reference_number in seen:
                raise abc_parser.DuplicateReferenceNumberError(
                    f"X:{sequence.reference_number} appears more than once")
        except Exception as e:  # note_seq raises ValueError/KeyError too on odd input.
            failures[abc_error_reason(e)] += 1
            first_error = first_error or f"{_tune_label(lines)}: {e}"
            logger.debug("%s: skipped tune %s: %s", path, _tune_label(lines), e)
            continue
        seen.add(sequence.reference_number)
        sequences.append(sequence)
    if stats is not None:
        stats.count("abc_tunes_read", len(sequences))
        for reason, n in failures.items():
            stats.count(f"abc_tunes_failed_{reason}", n)
    if not sequences:
        detail = (f"{len(tunes)} of {len(tunes)} tunes failed, first {first_error}" if tunes
                  else "no tunes found")
        raise ReadError(path, "no_abc_tunes", detail)
    if failures:
        logger.warning("%s: skipped %d of %d ABC tunes (%s)", path, sum(failures.values()),
                       len(tunes), ", ".join(f"{k}: {v}" for k, v in sorted(failures.items())))
    return sequences


def music21_score_to_sequence(score):
    """A music21 score as a NoteSequence: tied notes merged, grace notes dropped.

    Offsets in quarter notes become seconds through the score's tempo marks (120 qpm where
    none is given, as in note_seq), so the result lines up with note_seq's own readers.
    """
    from music21 import key, meter  # Deferred: music21 is only needed here.

    flat = score.stripTies().flatten()
    sequence = music_pb2.NoteSequence(ticks_per_quarter=constants.STANDARD_PPQ)
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
    modes = music_pb2.NoteSequence.KeySignature.Mode
    for ks in flat.getElementsByClass(key.KeySignature):
        k = ks if isinstance(ks, key.Key) else ks.asKey()
        mode = {"ionian": "major", "aeolian": "minor"}.get(k.mode, k.mode).upper()
        sequence.key_signatures.add(time=to_seconds(ks.offset), key=k.tonic.pitchClass,
                                    mode=modes.Value(mode) if mode in modes.keys() else 0)
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
        # Without a version line music21 follows ABC 1.3, where an accidental does not carry
        # through the bar; these collections (and note_seq) follow ABC 2.1, where it does.
        score = converter.parse("%abc-2.1\n" + abc_text, format="abc")
    sequence = music21_score_to_sequence(score)
    sequence.source_info.encoding_type = sequence.source_info.ABC
    if score.metadata is not None:
        sequence.sequence_metadata.title = score.metadata.title or ""
        number = str(score.metadata.number or "0")
        sequence.reference_number = int(number) if number.isdigit() else 0
    return sequence


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
        sequences, source_type = _read_abc(path, stats), "abc"
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


def write_midi(sequence, path):
    """Writes a NoteSequence as a Standard MIDI File (parent folders are created)."""
    path = str(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    midi_io.note_sequence_to_midi_file(sequence, path)


def write_note_sequences(path, sequences):
    """Writes NoteSequences to a TFRecord file in Magenta's layout; returns how many.

    Writes to a temporary name first, so an interrupted run never leaves a short file
    under the real name.
    """
    import tensorflow as tf  # Deferred: importing TensorFlow takes seconds.

    path = str(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    partial = path + ".partial"
    count = 0
    try:
        with tf.io.TFRecordWriter(partial) as writer:
            for sequence in sequences:
                writer.write(sequence.SerializeToString())
                count += 1
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return count


def read_note_sequences(path):
    """Yields the NoteSequences in a TFRecord file (Magenta's `notesequences.tfrecord`).

    Record checksums are verified; a damaged file raises ReadError naming the file and the
    record index. Gzip-compressed files are recognised by their magic bytes.
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
        yield sequence
        index += 1


def convert_directory(input_dir, output_file, recursive=True, progress=True):
    """Converts every music file under `input_dir` into one TFRecord of NoteSequences.

    Magenta's `convert_dir_to_note_sequences`, except that subfolders are included by
    default and bad files are counted per reason instead of only logged. Returns the Stats
    (`files_read`, `files_failed_<reason>`, `files_ignored_unsupported_extension`,
    `sequences_read`, `sequences_written`, `abc_tunes_failed_<reason>`).
    """
    if os.path.isdir(output_file):
        raise IsADirectoryError(f"{output_file}: is a folder; give the TFRecord file to write, "
                                f"e.g. {os.path.join(output_file, 'notesequences.tfrecord')}")
    stats = Stats()
    all_files = _walk_files(input_dir, recursive)
    music_files = [p for p in all_files if os.path.splitext(p)[1].lower() in SUPPORTED_EXTENSIONS]
    if len(all_files) > len(music_files):
        stats.count("files_ignored_unsupported_extension", len(all_files) - len(music_files))
    sequences = read_files(music_files, stats=stats, progress=progress, root_dir=input_dir)
    stats.count("sequences_written", write_note_sequences(output_file, sequences))
    return stats
