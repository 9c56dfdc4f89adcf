"""Shared fixtures: real music from the corpora installed with music21."""
import pathlib
import warnings

import pytest

warnings.filterwarnings("ignore", message="Couldn't find ffmpeg or avconv")


def music21_corpus():
    import music21
    return pathlib.Path(music21.__file__).parent / "corpus"


@pytest.fixture(scope="session")
def chorale_paths():
    paths = sorted((music21_corpus() / "bach").glob("bwv*.mxl"))
    assert len(paths) > 300, "music21's Bach chorales are missing"
    return paths


@pytest.fixture(scope="session")
def chorale_folder(chorale_paths, tmp_path_factory):
    """chorale_folder(n): a folder holding copies of the first n chorales (made once per n)."""
    import shutil
    made = {}

    def make(count):
        if count not in made:
            folder = made[count] = tmp_path_factory.mktemp(f"chorales_{count}")
            for path in chorale_paths[:count]:
                shutil.copy(path, folder)
        return made[count]
    return make


@pytest.fixture(scope="session")
def chorales(chorale_paths):
    """30 chorales as NoteSequences (every 13th, to spread over the collection)."""
    import note_seq
    return [note_seq.musicxml_file_to_sequence_proto(str(p)) for p in chorale_paths[::13][:30]]


@pytest.fixture
def tmpfs(tmp_path):
    """tmpfs(options) -> a folder with a real tmpfs mounted on it ("ro,size=1m",
    "size=1m": a read-only or a nearly full file system); skipped where mounting is not
    allowed. Unmounted (lazily if still busy) afterwards."""
    import subprocess
    mounted = []

    def mount(options):
        folder = tmp_path / f"tmpfs{len(mounted)}"
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                              capture_output=True, text=True)
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(folder)], check=True)
