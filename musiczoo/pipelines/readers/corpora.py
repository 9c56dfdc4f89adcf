"""The named corpora that work offline, and the Bach chorales among them.

bach_chorales and folk_melodies come with music21 (folk_melodies is read once into a
cache, see folk.py); mma_grooves is rendered once from Debian's `mma` groove library (see
mma.py). Built corpora live in $MUSICZOO_DATA (~/.cache/musiczoo). `inputs.resolve_input`
turns a corpus name, like any other input spec, into sequences.
"""
import dataclasses

from musiczoo.pipelines.readers import mma, multitrack
# The chorale reader lives one floor down (bach.py); these names stay importable from here.
from musiczoo.pipelines.readers.bach import (CHORALE_VOICES, bach_chorales,  # noqa: F401
                                             chorale_files, chorale_voices)
from musiczoo.pipelines.readers.folk import folk_melodies

MUSIC21_LICENCE = ("music21 corpus: free for non-commercial use per its licence notes "
                   "(corpus/license.txt, essenFolksong/license.txt)")


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
