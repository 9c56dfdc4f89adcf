"""ABC tunebooks: splitting and decoding them, reading them with note_seq or with music21.

note_seq's ABC parser (the one Magenta's converter used) backs `files.read_file`; it has no
rests, tuplets, grace notes, chords or variant endings, so `read_abc_tune_with_music21` is
there for corpora that need those (folk_melodies).
"""
import collections
import logging
import warnings

from note_seq import abc_parser, constants
from note_seq.protobuf import music_pb2

from musiczoo.pipelines.readers.errors import ReadError, check_sequence, read_bytes

logger = logging.getLogger(__name__)

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


def abc_error_reason(error):
    """Short statistics key for a note_seq ABC exception (or a ReadError's own reason)."""
    if isinstance(error, ReadError):
        return error.reason
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


def read_abc_file(path, stats=None):
    """The tunes note_seq can parse in one ABC file; failures counted in `stats`, logged."""
    header, tunes = split_abc_tunebook(decode_abc(read_bytes(path)))
    sequences, failures, seen = [], collections.Counter(), set()
    first_error = None
    for lines in tunes:
        try:
            sequence = check_sequence(abc_parser.ABCTune(header + lines).note_sequence, path)
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
