"""The multitrack corpus (musiczoo.pipelines.readers.multitrack): a tiny build with `limit`,
checked file by file against its manifest and report."""
import json
import os
import pathlib
import shutil

import mido
import pytest

from musiczoo.pipelines.readers import corpora, multitrack
from musiczoo.pipelines.readers.inputs import resolve_input

# As in test_corpora: CI installs Debian's mma and sets MUSICZOO_REQUIRE_MMA=1, so there
# the build test runs (and fails if mma is missing) instead of skipping.
needs_mma = pytest.mark.skipif(
    shutil.which("mma") is None and os.environ.get("MUSICZOO_REQUIRE_MMA") != "1",
    reason="Debian's mma is not installed (apt-get install -y mma)")

BAND_STYLES = ("rock", "waltz", "swing")


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICZOO_DATA", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("multitrack")
    stats = multitrack.build_multitrack_corpus(
        folder, limit=1, progress=False, workers=2,
        sources=("mma", "chorale", "string_quartet"), mma_styles=BAND_STYLES)
    return folder, stats, json.loads((folder / "manifest.json").read_text())


def midi_facts(path):
    """Per track with notes: (channel set, program set, note count); plus tempos and meters."""
    midi = mido.MidiFile(path)
    tracks, tempos, meters = [], [], []
    for track in midi.tracks:
        channels, programs, notes = set(), set(), 0
        for message in track:
            if message.type == "set_tempo":
                tempos.append(mido.tempo2bpm(message.tempo))
            elif message.type == "time_signature":
                meters.append(f"{message.numerator}/{message.denominator}")
            elif message.type == "program_change":
                programs.add(message.program)
            elif message.type == "note_on" and message.velocity > 0:
                channels.add(message.channel)
                notes += 1
        if notes:
            tracks.append((channels, programs, notes))
    return tracks, tempos, meters


@needs_mma
def test_tiny_build_files_manifest_and_report(tiny_corpus):
    folder, stats, manifest = tiny_corpus
    pieces = manifest["pieces"]
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.mid"))
    assert files == [p["file"] for p in pieces]
    assert {p["style"] for p in pieces} == {*BAND_STYLES, "chorale", "string_quartet"}
    assert stats["pieces_written"] == len(pieces) == 3 + 1 + 3  # a quartet per composer
    assert set(manifest["licences"]) == {p["source"] for p in pieces}
    for piece in pieces:
        assert piece["file"].startswith(piece["style"] + "/" + piece["source"] + "__")
        tracks, tempos, meters = midi_facts(folder / piece["file"])
        assert len(tempos) == 1 and tempos[0] == pytest.approx(piece["qpm"], abs=0.01)
        assert meters == [piece["time_signature"]]
        assert len(tracks) >= 2, piece["file"]  # at least two instruments
        assert sum(n for _, _, n in tracks) == piece["notes"]
        for channels, programs, _ in tracks:
            assert len(channels) == 1 and len(programs) == 1  # one part, one program a track
        drums = [t for t in tracks if t[0] == {9}]
        assert bool(drums) == piece["is_drum"]
        assert sorted({p for c, ps, _ in tracks if c != {9} for p in ps}) == piece["programs"]
        bar = int(piece["time_signature"][0]) * 4 / int(piece["time_signature"][2]) * 60 / piece["qpm"]
        assert piece["bars"] == pytest.approx(piece["seconds"] / bar, abs=1)
        if piece["source"] == "mma":
            low, high = multitrack.FILE_TEMPO.get(piece["file"].split("__")[1].split("-")[0],
                                                  multitrack.STYLE_TEMPO[piece["style"]])
            assert low - 1 <= piece["qpm"] <= high + 1
            assert drums and any(32 <= p <= 39 for p in piece["programs"]), piece["file"]
            assert len(piece["progressions"]) == 4
            assert len({s["key"] for s in piece["progressions"]}) >= 2  # transposed
            assert any(p < 32 or p >= 40 for p in piece["programs"])  # a chord instrument
        else:
            assert not piece["is_drum"]
            assert 20 <= piece["qpm"] <= 320
        if piece["style"] == "string_quartet":
            assert set(piece["programs"]) <= {40, 41, 42, 43} and len(tracks) >= 3
        if piece["style"] == "chorale":
            assert piece["programs"] == [multitrack.CHORALE_PROGRAM] and len(tracks) == 4
            low, high = multitrack.STYLE_TEMPO["chorale"]
            assert low <= piece["qpm"] <= high
    waltz, = [p for p in pieces if p["style"] == "waltz"]
    assert waltz["time_signature"] == "3/4"

    report = multitrack.corpus_report(folder)
    assert report["pieces"] == len(pieces)
    assert report["notes"] == sum(p["notes"] for p in pieces)
    assert report["hours"] == pytest.approx(sum(p["seconds"] for p in pieces) / 3600, abs=1e-3)
    assert sum(s["pieces"] for s in report["styles"].values()) == len(pieces)
    assert report["styles"]["string_quartet"]["instruments"] == {"strings": 3}
    assert report["styles"]["chorale"]["instruments"] == {"ensemble": 1}
    assert report["instruments"]["drums"]["pieces"] == 3
    assert report["instruments"]["bass"]["pieces"] == 3
    assert sum(i["notes"] for i in report["instruments"].values()) == report["notes"]


@needs_mma
def test_built_corpus_reads_with_style_as_genre(tiny_corpus, data_dir):
    folder, _, manifest = tiny_corpus
    shutil.copytree(folder, data_dir / "multitrack")
    sequences, _, _ = resolve_input("multitrack")
    sequences = list(sequences)
    assert len(sequences) == len(manifest["pieces"])
    for sequence, piece in zip(sequences, manifest["pieces"]):
        assert sequence.filename == piece["file"]
        assert list(sequence.sequence_metadata.genre) == [piece["style"]]
        assert len(sequence.tempos) == 1 and len(sequence.notes) == piece["notes"]


def test_not_built_says_how_to_build(data_dir):
    with pytest.raises(FileNotFoundError, match="build_multitrack_corpus"):
        multitrack.multitrack_dir()
    assert "multitrack" in dict(corpora.list_corpora())


def test_mma_script_bars_meters_and_keys():
    assert multitrack._bar_lines(["C", "Dm7 G7"], 4) == ["C", "Dm7 / G7 /"]
    assert multitrack._bar_lines(["C", "Dm7 G7"], 6) == ["C", "Dm7 / / G7 / /"]
    assert multitrack._bar_lines(["C", "Dm7 G7"], 3) == ["C", "Dm7", "G7"]  # 3/4: two bars
    job = {"seed": 3, "library_file": "/x/waltz.mma", "groove": "Waltz", "mma_tempo": 120,
           "beats": 3, "sections": [
               {"progression": "I-V7", "transpose": 5, "key": "F"},
               {"progression": "minor-i-iv-V", "transpose": -2, "key": "G"}]}
    lines = multitrack.mma_script(job).splitlines()
    assert lines[:4] == ["RndSeed 3", "Use /x/waltz.mma", "Groove Waltz", "Tempo 120"]
    assert "KeySig F" in lines and "Transpose 5" in lines
    assert "KeySig G Minor" in lines and "Transpose -2" in lines
    assert lines[-1] == "16 Am"  # bars numbered through both progressions
    for style, progressions in multitrack.STYLE_PROGRESSIONS.items():
        assert style in multitrack.MMA_STYLES and style in multitrack.STYLE_TEMPO
        assert all(p in multitrack.PROGRESSIONS for p in progressions)


def test_styles_are_folder_names_and_tempi_deterministic():
    for style in [*multitrack.MMA_STYLES, *multitrack.STYLE_TEMPO]:
        assert style.isascii() and style == style.lower() and " " not in style
    stems = [s for files in multitrack.MMA_STYLES.values() for s in files]
    assert len(stems) == len(set(stems))  # each library file has one style
    assert multitrack._tempo_in((60, 80), "Ballad") == multitrack._tempo_in((60, 80), "Ballad")
    assert all(60 <= multitrack._tempo_in((60, 80), str(i)) <= 80 for i in range(50))


@pytest.mark.skipif(not pathlib.Path("/usr/share/mma/lib/stdlib").is_dir(),
                    reason="MMA's library is not installed")
def test_every_mapped_library_file_is_installed():
    files = multitrack.mma_style_files()
    stdlib = {os.path.splitext(p.name)[0] for p in pathlib.Path(
        "/usr/share/mma/lib/stdlib").glob("*.mma")}
    mapped = {os.path.splitext(os.path.basename(p))[0] for _, p in files
              if "/stdlib/" in p}
    # every stdlib file has a style, apart from the click tracks and demos
    assert stdlib - mapped == set(multitrack.MMA_SKIPPED_FILES)
