"""TFRecord files of NoteSequences, in Magenta's layout: one serialized
`music_pb2.NoteSequence` per record, uncompressed (gzip is recognised when reading).
"""
import logging
import os
import pathlib
import re
import warnings

with warnings.catch_warnings():
    # note_seq imports pydub, which warns about a missing ffmpeg that we never use.
    warnings.filterwarnings("ignore", message="Couldn't find ffmpeg")
    from note_seq.protobuf import music_pb2

from musiczoo import outputs
from musiczoo.pipelines.readers.errors import ReadError, check_sequence

logger = logging.getLogger(__name__)


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


def _dataset(tf, path):
    """The TFRecordDataset of `path` (gzip recognised by its magic bytes)."""
    path = str(path)
    if not os.path.isfile(path):
        raise ReadError(path, "missing_file")
    with open(path, "rb") as f:
        compression = "GZIP" if f.read(2) == b"\x1f\x8b" else ""
    return tf.data.TFRecordDataset(path, compression_type=compression)


def _records(path):
    """Yields (index, serialized record) of a TFRecord file; ReadError on a damaged one."""
    import tensorflow as tf  # Deferred: importing TensorFlow takes seconds.

    records = iter(_dataset(tf, path))
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
        yield index, record.numpy()
        index += 1


def _batched_records(path, batch_size=512):
    """`_records`, read `batch_size` at a time (TF's per-element cost is paid per batch).
    A damaged batch is read again one record at a time, so what precedes the damage is
    still yielded and the error names the exact record."""
    import tensorflow as tf

    batches = iter(_dataset(tf, path).batch(batch_size))
    index = 0
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except tf.errors.OpError:
            for position, record in _records(path):
                if position >= index:
                    yield position, record
            return
        for record in batch.numpy():
            yield index, record
            index += 1


def read_note_arrays(path, stats=None):
    """`read_note_sequences` for the pipelines: the records as NoteArrays, read from their
    bytes by `fast_records` (the same values as `from_note_sequence` of the parsed proto),
    with the same checks, skips and counts; records it does not take are parsed as
    protos and checked exactly as `read_note_sequences` does."""
    from musiczoo.pipelines.readers import fast_records

    fast_records.warm_up()
    path = str(path)
    for index, record in _batched_records(path):
        arrays = record_arrays(record, path, index, stats)
        if arrays is not None:
            yield arrays


def record_arrays(record, path="<records>", index=0, stats=None):
    """One serialized NoteSequence as checked NoteArrays (None: refused, logged, counted).

    protobuf parses the record first (~20 us a chorale): what it refuses is refused here
    too (ReadError); `fast_records` then reads the values the pipelines use without upb
    objects, or, for a record it leaves to the reference path, check_sequence and
    from_note_sequence decide."""
    from musiczoo.pipelines.extract import notearrays
    from musiczoo.pipelines.readers import fast_records

    sequence = _parsed(path, index, record)
    arrays = fast_records.decode(record)
    if arrays is None:
        if _checked(path, index, sequence, stats) is None:
            return None
        arrays = notearrays.from_note_sequence(sequence)
    return arrays


def _parsed(path, index, record):
    try:
        return music_pb2.NoteSequence.FromString(record)
    except Exception as e:  # protobuf's DecodeError
        raise ReadError(path, "not_a_note_sequence", f"record {index}: {e}") from None


def _checked(path, index, sequence, stats):
    """`sequence` if check_sequence takes it, else None (logged and counted)."""
    source = f"{path}: record {index}"
    try:
        check_sequence(sequence, source)
    except ReadError as e:
        logger.warning("skipped %s", e)
        if stats is not None:
            stats.count(f"records_failed_{e.reason}")
        return None
    return sequence


def read_note_sequences(path, stats=None):
    """Yields the NoteSequences in a TFRecord file (Magenta's `notesequences.tfrecord`).

    Record checksums are verified; a damaged file raises ReadError naming the file and the
    record index. A record that is a NoteSequence the pipelines cannot safely take (see
    `check_sequence`) is logged and skipped, and counted as `records_failed_<reason>` when
    `stats` is given. Gzip-compressed files are recognised by their magic bytes.
    """
    for index, record in _records(path):
        sequence = _checked(str(path), index, _parsed(str(path), index, record), stats)
        if sequence is not None:
            yield sequence
