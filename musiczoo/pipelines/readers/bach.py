"""The Bach chorales of music21's corpus as four-voice NoteSequences (the bach_chorales
corpus; corpora.py registers it, and the multitrack corpus builder reads it too)."""
import os

from note_seq.protobuf import music_pb2

from musiczoo.pipelines.readers.cache import music21_corpus_dir
from musiczoo.pipelines.readers.files import content_key, generate_note_sequence_id, read_files
from musiczoo.pipelines.stats import Stats

# Chorale voices in instrument order: instrument 0 is the soprano (the chorale melody).
CHORALE_VOICES = ("Soprano", "Alto", "Tenor", "Bass")


def chorale_files():
    """music21's Bach MusicXML files (.krn copies of the same chorales are left out)."""
    folder = music21_corpus_dir() / "bach"
    return sorted(str(p) for p in folder.iterdir() if p.suffix in (".mxl", ".xml"))


def chorale_voices(sequence):
    """Keeps the four sung parts of a chorale as instruments 0-3 (soprano, alto, tenor, bass).

    Instrumental parts (horns, trumpets, strings, continuo) are dropped: they double the
    voices or add obbligato lines that are not part of the four-part setting. Returns None
    when the score does not have exactly one part per voice: that is the case for the
    prelude BWV 846 and the five-part chorales BWV 27.6 and 227.3 (two soprano parts).
    """
    voice_of_part = {}
    for info in sequence.part_infos:
        words = info.name.replace("\r", " ").split()
        if words and words[0].capitalize() in CHORALE_VOICES:
            voice_of_part[info.part] = CHORALE_VOICES.index(words[0].capitalize())
    if sorted(voice_of_part.values()) != [0, 1, 2, 3]:
        return None
    chorale = music_pb2.NoteSequence()
    chorale.CopyFrom(sequence)
    del chorale.notes[:]
    del chorale.part_infos[:]
    for voice, name in enumerate(CHORALE_VOICES):
        chorale.part_infos.add(part=voice, name=name)
    for note in sequence.notes:
        if note.part in voice_of_part:
            kept = chorale.notes.add()
            kept.CopyFrom(note)
            kept.instrument = kept.part = voice_of_part[note.part]
    chorale.total_time = max((n.end_time for n in chorale.notes), default=0.0)
    return chorale


def bach_chorales(stats=None):
    """Yields the four-voice Bach chorales (about 405) of music21's corpus; reads in ~7 s.

    Files that are not four-part chorales are skipped and counted
    (`chorales_skipped_not_four_voices`), as are exact duplicates of an earlier chorale
    (`chorales_skipped_duplicate`), e.g. a second encoding of the same harmonisation.
    """
    stats = stats if stats is not None else Stats()
    root = music21_corpus_dir()
    seen = set()
    for sequence in read_files(chorale_files(), stats=stats, progress=False, root_dir=root):
        chorale = chorale_voices(sequence)
        if chorale is None:
            stats.count("chorales_skipped_not_four_voices")
            continue
        key = content_key(chorale)
        if key in seen:
            stats.count("chorales_skipped_duplicate")
            continue
        seen.add(key)
        chorale.collection_name = "bach_chorales"
        chorale.id = generate_note_sequence_id(chorale.filename, "bach_chorales", "musicxml")
        chorale.sequence_metadata.composers.append("Johann Sebastian Bach")
        chorale.sequence_metadata.genre.append("chorale")
        chorale.sequence_metadata.title = os.path.splitext(
            os.path.basename(chorale.filename))[0].upper().replace("BWV", "BWV ")
        stats.count("chorales_read")
        yield chorale
