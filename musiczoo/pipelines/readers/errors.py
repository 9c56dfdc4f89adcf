"""What a reader refuses, and the helpers every reader shares (one floor below them all).

Every failure to read a music file is a `ReadError` naming the file and the problem, with a
short `reason` key that the batch readers turn into statistics (`files_failed_<reason>`).
Input is untrusted: `limits` bounds what one file may cost before it is parsed, and every
NoteSequence read is checked (`check_sequence`) before it enters the pipelines.
"""
import os

from musiczoo.pipelines.readers import limits

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


def read_bytes(path):
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


def within_limits(source, check, *args):
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
    within_limits(source, limits.check_sequence, sequence)
    return sequence
