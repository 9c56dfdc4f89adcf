"""Named corpora and resolve_input (musiczoo.pipelines.readers: corpora, folk, mma, inputs),
on the real music21 corpus."""
import os
import shutil

import pytest

from musiczoo.pipelines.readers import abc, corpora, mma
from musiczoo.pipelines.readers.cache import music21_corpus_dir
from musiczoo.pipelines.readers.errors import ReadError
from musiczoo.pipelines.readers.files import generate_note_sequence_id, read_file
from musiczoo.pipelines.readers.folk import build_folk_melodies, folk_melodies
from musiczoo.pipelines.readers.inputs import resolve_input
from musiczoo.pipelines.readers.records import write_note_sequences
from musiczoo.pipelines.stats import Stats

# CI (.ci/run) installs Debian's mma and sets MUSICZOO_REQUIRE_MMA=1: there the builder
# test must run (and fails if mma is missing) instead of skipping.
needs_mma = pytest.mark.skipif(
    shutil.which("mma") is None and os.environ.get("MUSICZOO_REQUIRE_MMA") != "1",
    reason="Debian's mma is not installed (apt-get install -y mma)")


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICZOO_DATA", str(tmp_path / "data"))
    return tmp_path / "data"


def bach(name):
    return str(music21_corpus_dir() / "bach" / name)


def test_list_corpora_names_descriptions_and_licences():
    listed = dict(corpora.list_corpora())
    assert {"bach_chorales", "folk_melodies", "mma_grooves", "tfds:<name>"} <= set(listed)
    assert "GPL" in listed["mma_grooves"]
    assert "non-commercial" in listed["bach_chorales"]
    assert "soprano" in listed["bach_chorales"]


def test_chorale_voices_become_instruments_soprano_first():
    # BWV 1.6 has horns and oboes besides the four voices.
    original, = read_file(bach("bwv1.6.mxl"))
    chorale = corpora.chorale_voices(original)
    assert [p.name for p in chorale.part_infos] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert sorted({n.instrument for n in chorale.notes}) == [0, 1, 2, 3]
    mean = {v: sum(n.pitch for n in chorale.notes if n.instrument == v) /
            sum(1 for n in chorale.notes if n.instrument == v) for v in range(4)}
    assert mean[0] > mean[1] > mean[2] > mean[3]
    assert len(chorale.notes) < len(original.notes)  # the instruments were dropped
    for not_four_voices in ["bwv846.mxl", "bwv27.6.mxl"]:  # a prelude, a five-part chorale
        assert corpora.chorale_voices(read_file(bach(not_four_voices))[0]) is None


def test_bach_chorales_corpus():
    stats = Stats()
    chorales = list(corpora.bach_chorales(stats))
    assert len(chorales) == stats["chorales_read"] == 404
    assert stats["chorales_skipped_not_four_voices"] == 3
    assert stats["chorales_skipped_duplicate"] == 3
    assert stats["files_read"] == len(corpora.chorale_files()) == 410
    assert len({c.id for c in chorales}) == len(chorales)
    first = chorales[0]
    assert first.collection_name == "bach_chorales" and first.filename == "bach/bwv1.6.mxl"
    assert first.id == generate_note_sequence_id("bach/bwv1.6.mxl", "bach_chorales",
                                                 "musicxml")
    assert first.sequence_metadata.title == "BWV 1.6"


def test_music21_reads_what_note_seq_cannot(tmp_path):
    tune = ("X:7\nT:Rests, triplets, ties, a grace note\nM:4/4\nL:1/8\nQ:1/4=90\nK:F\n"
            "z2 (3ABc d2-d2|{g}f4 B2 =B2|B8|]\n")
    sequence = abc.read_abc_tune_with_music21(tune)
    seconds = 60 / 90 / 2  # one eighth note at 90 qpm
    expected = [(69, 2, 2 + 2 / 3), (70, 2 + 2 / 3, 2 + 4 / 3), (72, 2 + 4 / 3, 4),
                (74, 4, 8), (77, 8, 12), (70, 12, 14), (71, 14, 16), (70, 16, 24)]
    assert [(n.pitch, round(n.start_time, 4), round(n.end_time, 4)) for n in sequence.notes] == [
        (p, round(s * seconds, 4), round(e * seconds, 4)) for p, s, e in expected]
    assert sequence.reference_number == 7
    assert [(t.qpm, t.time) for t in sequence.tempos] == [(90, 0)]
    assert (sequence.key_signatures[0].key, sequence.time_signatures[0].numerator) == (5, 4)
    assert "Rests" in sequence.sequence_metadata.title
    # note_seq's own ABC parser rejects this tune.
    (tmp_path / "tune.abc").write_text(tune)
    with pytest.raises(ReadError, match="no ABC tune"):
        read_file(tmp_path / "tune.abc")


def test_music21_and_note_seq_agree_on_plain_tunes():
    path = music21_corpus_dir() / "essenFolksong" / "test0.abc"
    header, tunes = abc.split_abc_tunebook(abc.decode_abc(path.read_bytes()))
    by_note_seq = {s.reference_number: s for s in read_file(path)}
    compared = 0
    for lines in tunes:
        number = int(lines[0][2:])
        text = "\n".join(header + lines)
        if number not in by_note_seq or "-" in text.split("K:")[-1]:
            continue  # note_seq could not read it, or it has ties (which note_seq splits)
        ours = abc.read_abc_tune_with_music21(text)
        assert [(n.pitch, round(n.start_time, 4), round(n.end_time, 4)) for n in ours.notes] == \
            [(n.pitch, round(n.start_time, 4), round(n.end_time, 4))
             for n in by_note_seq[number].notes], number
        compared += 1
    assert compared >= 3


def test_folk_melodies_built_from_a_subset_then_read_from_the_cache(data_dir):
    root = music21_corpus_dir()
    files = [str(root / "essenFolksong" / "testd.abc"),
             str(root / "oneills1850" / "1116-1135_mh.abc"),
             str(root / "oneills1850" / "1116-1135_ml.abc")]
    stats = build_folk_melodies(workers=1, progress=False, files=files)
    assert stats["folk_tunes_skipped_duplicate"] == 20  # two transcriptions of 1116-1135
    assert stats["folk_tunes_read"] == 8 + 20 - stats["folk_tunes_failed"]
    tunes = list(folk_melodies())  # the cache exists now, so this only reads it
    assert len(tunes) == stats["folk_tunes_read"]
    assert len({t.id for t in tunes}) == len(tunes)
    assert tunes[0].filename == "essenFolksong/testd.abc"
    assert tunes[-1].filename == "oneills1850/1116-1135_mh.abc"
    assert tunes[0].id == generate_note_sequence_id(
        f"essenFolksong/testd.abc_{tunes[0].reference_number}", "folk_melodies", "abc")
    assert all(t.notes and t.collection_name == "folk_melodies" for t in tunes)
    assert (data_dir / "folk_melodies-v1.json").exists()


def test_mma_grooves_not_built_says_how_to_build(data_dir):
    with pytest.raises(FileNotFoundError, match="apt-get install -y mma.*build_mma_grooves"):
        resolve_input("mma_grooves")


@needs_mma
def test_build_mma_grooves_from_one_style(tmp_path, data_dir):
    library = tmp_path / "lib" / "stdlib"
    library.mkdir(parents=True)
    for style in ["50srock", "stringballad"]:  # stringballad has no drums at all
        shutil.copy(f"/usr/share/mma/lib/stdlib/{style}.mma", library)
    stats = mma.build_mma_grooves(library_dir=tmp_path / "lib", progress=False)
    assert stats["grooves_written"] >= 2
    assert stats["grooves_skipped_no_drums"] >= 9
    assert stats["grooves_written"] + stats["grooves_skipped_duplicate"] + stats[
        "grooves_skipped_no_drums"] + stats["grooves_failed_mma_error"] == 11 + 9
    sequences, count, _ = resolve_input("mma_grooves")
    grooves = {s.sequence_metadata.title: s for s in sequences}
    assert len(grooves) == stats["grooves_written"]
    rock = grooves["50sRock"]
    assert rock.filename == "stdlib/50srock/50sRock.mid"
    assert rock.notes and all(n.is_drum for n in rock.notes)
    assert rock.total_time == pytest.approx(16, abs=0.6)  # 8 bars of 4/4 at 120 qpm


def test_resolve_input_folder_file_tfrecord_and_corpus(tmp_path):
    shutil.copy(bach("bwv1.6.mxl"), tmp_path / "a.mxl")
    shutil.copy(bach("bwv10.7.mxl"), tmp_path / "b.mxl")
    sequences, count, description = resolve_input(str(tmp_path))
    assert count == 2 and "2 music files" in description
    first_pass = list(sequences)
    assert len(first_pass) == 2 and list(sequences) == first_pass  # re-iterable

    record = tmp_path / "notesequences.tfrecord"
    write_note_sequences(record, first_pass)
    sequences, count, _ = resolve_input(str(record))
    assert count is None and list(sequences) == first_pass

    sequences, count, _ = resolve_input(tmp_path / "a.mxl")
    assert count == 1 and list(sequences)[0].filename == "a.mxl"

    sequences, count, description = resolve_input("bach_chorales")
    assert count > 400 and "soprano" in description


def test_resolve_input_unknown_lists_the_corpora(tmp_path):
    with pytest.raises(ValueError, match="no such file or folder(.|\n)*bach_chorales"):
        resolve_input("bach_chorals")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ValueError, match="not a music file(.|\n)*folk_melodies"):
        resolve_input(str(tmp_path / "notes.txt"))
