"""Turning what users give as a primer into events, with clear errors."""
import ast
import pathlib

from note_seq.protobuf import music_pb2

from musiczoo.pipelines.extract import notearrays
from musiczoo.pipelines.readers.errors import ReadError, check_sequence
from musiczoo.pipelines.readers.files import read_file


class PrimerError(ValueError):
    """A primer that cannot be used; the message says why."""


def parse_literal(text, flag):
    """'[60, -2, 62]' or '[(36, 42), (), (42,)]' -> Python list, or PrimerError."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError) as error:
        raise PrimerError(f"--{flag}={text!r} is not a Python list literal ({error})") from None
    if not isinstance(value, (list, tuple)):
        raise PrimerError(f"--{flag} must be a list, e.g. [60, -2, 62], got {text!r}")
    if not value:
        raise PrimerError(f"--{flag} is empty: give at least one event")
    return list(value)


def read_primer_sequence(primer):
    """A NoteSequence from a MIDI/MusicXML/ABC path or a NoteSequence (both checked)."""
    if isinstance(primer, music_pb2.NoteSequence):
        try:
            return check_sequence(primer, "the primer NoteSequence")
        except ReadError as error:
            raise PrimerError(f"unusable primer: {error}") from None
    path = pathlib.Path(primer)
    try:
        sequences = read_file(path)
    except ReadError as error:
        raise PrimerError(f"unreadable primer: {error}") from None
    if not sequences or not sequences[0].notes:
        raise PrimerError(f"{path}: the primer has no notes")
    return sequences[0]


def quantized_primer(sequence, steps_per_quarter, name="primer"):
    """The primer quantized at the model's resolution (its first tempo/meter section)."""
    parts = notearrays.split_on_time_changes(notearrays.from_note_sequence(sequence))
    if not parts:
        raise PrimerError(f"{name}: the primer is empty")
    try:
        return notearrays.quantize(parts[0], steps_per_quarter)
    except notearrays.QuantizeError as error:
        raise PrimerError(f"{name}: cannot quantize the primer ({error})") from None


def unpack(primer, allowed):
    """(kind, value) from the CLI dict / Python value; kind in allowed + ('midi', None)."""
    if primer is None:
        return None, None
    if isinstance(primer, dict):
        (key, value), = primer.items()
        kind = key[len("primer_"):]
        if kind not in allowed + ("midi",):
            raise PrimerError(f"--{key} does not apply to this model (use "
                              f"{' or '.join('--primer_' + a for a in allowed + ('midi',))})")
        if kind != "midi":
            value = parse_literal(value, key)
        return kind, value
    if isinstance(primer, (str, pathlib.Path, music_pb2.NoteSequence)):
        return "midi", primer
    if not primer:
        raise PrimerError("the primer is empty: give at least one event")
    return allowed[0], list(primer)
