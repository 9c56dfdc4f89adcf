"""Where corpora come from and go: musiczoo's data folder and music21's bundled corpus."""
import os
import pathlib


def data_dir():
    """Where built corpora are kept: $MUSICZOO_DATA, default ~/.cache/musiczoo."""
    return pathlib.Path(os.environ.get("MUSICZOO_DATA") or "~/.cache/musiczoo").expanduser()


def built_corpus_dir(name, build_command, how_long):
    """data_dir()/name once its manifest.json exists; else FileNotFoundError saying how to
    build it (mma_grooves, multitrack)."""
    folder = data_dir() / name
    if not (folder / "manifest.json").exists():
        raise FileNotFoundError(
            f"the {name} corpus is not built (no {folder / 'manifest.json'}). Build it once "
            f"(needs Debian's mma package, {how_long}) with:\n  {build_command}")
    return folder


def music21_corpus_dir():
    import music21  # Deferred: only the music21 corpora need it.

    return pathlib.Path(music21.__file__).parent / "corpus"
