"""Where corpora come from and go: musiczoo's data folder and music21's bundled corpus."""
import os
import pathlib


def data_dir():
    """Where built corpora are kept: $MUSICZOO_DATA, default ~/.cache/musiczoo."""
    return pathlib.Path(os.environ.get("MUSICZOO_DATA") or "~/.cache/musiczoo").expanduser()


def music21_corpus_dir():
    import music21  # Deferred: only the music21 corpora need it.

    return pathlib.Path(music21.__file__).parent / "corpus"
