"""The named corpora that work offline, and the Bach chorales among them.

bach_chorales and folk_melodies come with music21 (folk_melodies is read once into a
cache, see folk.py); mma_grooves is rendered once from Debian's `mma` groove library (see
mma.py). Built corpora live in $MUSICZOO_DATA (~/.cache/musiczoo). `inputs.resolve_input`
turns a corpus name, like any other input spec, into sequences.
"""
import dataclasses
import os

from note_seq.protobuf import music_pb2

from musiczoo.pipelines.readers import mma, multitrack
from musiczoo.pipelines.readers.cache import music21_corpus_dir
from musiczoo.pipelines.readers.files import content_key, generate_note_sequence_id, read_files
from musiczoo.pipelines.readers.folk import folk_melodies
from musiczoo.pipelines.stats import Stats

# Chorale voices in instrument order: instrument 0 is the soprano (the chorale melody).
CHORALE_VOICES = ("Soprano", "Alto", "Tenor", "Bass")
MUSIC21_LICENCE = ("music21 corpus: free for non-commercial use per its licence notes "
                   "(corpus/license.txt, essenFolksong/license.txt)")


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


@dataclasses.dataclass(frozen=True)
class Corpus:
    name: str
    description: str
    licence: str
    approx_count: int
    load: object  # (stats) -> iterator of NoteSequence
    check: object = None  # () -> None, raises when the corpus cannot be read yet


def bach_soprano(stats=None):
    """The soprano line (instrument 0) of every chorale: the chorale melodies."""
    for chorale in bach_chorales(stats):
        soprano = [note for note in chorale.notes if note.instrument == 0]
        del chorale.notes[:]
        chorale.notes.extend(soprano)
        chorale.id += "#soprano"
        yield chorale


CORPORA = {c.name: c for c in (
    Corpus("bach_chorales", "404 four-part Bach chorales (music21's MusicXML); instruments "
           "0-3 = soprano, alto, tenor, bass", MUSIC21_LICENCE, 404, bach_chorales),
    Corpus("bach_soprano", "the soprano lines of the 404 chorales (the chorale melodies)",
           MUSIC21_LICENCE, 404, bach_soprano),
    Corpus("folk_melodies", "10,351 folk melodies, Essen collection + O'Neill's 1850 (music21's "
           "ABC; the first use reads them once, ~5 minutes)",
           MUSIC21_LICENCE + "; Essen: non-commercial use only", 10351, folk_melodies),
    Corpus("mma_grooves", "1,216 drum grooves rendered from MMA's groove library (build "
           "once with build_mma_grooves)", "GPL-2+ (MMA by Bob van der Poel)", 1216,
           mma.mma_grooves, mma.mma_grooves_dir),
    Corpus("multitrack", "2,685 multi-instrument pieces (59 hours) in 20 styles (folder = "
           "style): MMA band arrangements of 774 grooves over chord progressions, Bach "
           "chorales, Palestrina/Monteverdi, Trecento, string quartets, folk tunes, Planet "
           "Blupi (build once with build_multitrack_corpus, ~8 minutes)",
           "mixed: MMA GPL-2+; music21 corpus non-commercial (Essen: non-commercial only); "
           "Planet Blupi GPL-3+", 2685, multitrack.multitrack, multitrack.multitrack_dir),
)}


def list_corpora():
    """[(name, one-line description with licence)] for every named corpus."""
    lines = [(c.name, f"{c.description}. Licence: {c.licence}") for c in CORPORA.values()]
    lines.append(("tfds:<name>", "a TensorFlow Datasets MIDI dataset, e.g. "
                  "tfds:groove/2bar-midionly or tfds:groove/2bar-midionly@validation "
                  "(needs internet the first time). Licence: the dataset's own"))
    return lines
