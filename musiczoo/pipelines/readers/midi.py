"""Standard MIDI Files -> NoteSequence, the bytes scanned against `limits` first."""
import warnings

with warnings.catch_warnings():
    # note_seq imports pydub, which warns about a missing ffmpeg that we never use.
    warnings.filterwarnings("ignore", message="Couldn't find ffmpeg")
    from note_seq import midi_io

from musiczoo.pipelines.readers import limits
from musiczoo.pipelines.readers.errors import ReadError, check_sequence, read_bytes, within_limits


def midi_bytes_to_sequence(data, source="<bytes>"):
    """Parses the bytes of a Standard MIDI File; `source` names it in errors.

    The bytes are scanned first (`limits.scan_midi`), so a file that would cost more than
    the limits allow (e.g. one huge delta-time) is refused before pretty_midi sees it.
    """
    if not data:
        raise ReadError(source, "empty_file")
    within_limits(source, limits.scan_midi, data)
    try:
        sequence = midi_io.midi_to_note_sequence(data)
    except Exception as e:  # pretty_midi/mido raise many unrelated types on bad input.
        cause = e.__context__ or e  # note_seq re-raises pretty_midi's error as a string
        detail = ("the data ends early" if isinstance(cause, EOFError)
                  else f"{type(cause).__name__}: {cause}")
        raise ReadError(source, "corrupt_midi", detail) from e
    return check_sequence(sequence, source)


def read_midi_file(path):
    return [midi_bytes_to_sequence(read_bytes(path), path)]
