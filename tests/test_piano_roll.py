"""Piano rolls (musiczoo.piano_roll): notes drawn at their time and pitch in their track's
colour, drums on named rows, bar lines that follow tempo and meter, the primer shaded;
bounded for huge files; the --wav / --piano_roll outputs of the scripts."""
import io
import json
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest
from matplotlib import colors as mcolors
from matplotlib import image as mimage
from note_seq.protobuf import music_pb2

import musiczoo
from musiczoo import outputs
from musiczoo.pipelines.readers.errors import ReadError
from musiczoo.pipelines.writers import write_midi
from musiczoo.render import piano_roll as roll


def sequence_with(notes, qpm=120.0, total=None, meter=(4, 4)):
    sequence = music_pb2.NoteSequence()
    sequence.tempos.add(qpm=qpm)
    sequence.time_signatures.add(numerator=meter[0], denominator=meter[1])
    for pitch, start, end, extra in notes:
        sequence.notes.add(pitch=pitch, start_time=start, end_time=end, velocity=127, **extra)
    sequence.total_time = total or max(n.end_time for n in sequence.notes)
    return sequence


def pixel(png, layout, time, row):
    """RGB of the picture at (time seconds, pitch or drum row)."""
    x0, y0, x1, y1 = layout["box"]
    (t0, t1), (r0, r1) = layout["xlim"], layout["ylim"]
    x = x0 + (time - t0) / (t1 - t0) * (x1 - x0)
    y = y1 - (row - r0) / (r1 - r0) * (y1 - y0)
    return png[int(round(y)), int(round(x)), :3]


def close(rgb, colour, tolerance=0.12):
    return np.abs(rgb - np.asarray(mcolors.to_rgb(colour))).max() < tolerance


FLUTE = {"program": 73, "instrument": 0}
BASS = {"program": 33, "instrument": 1}
KIT = {"is_drum": True, "instrument": 9}


def test_notes_are_drawn_at_their_time_and_pitch_in_their_tracks_colour(tmp_path):
    sequence = sequence_with([(67, 1.0, 2.0, FLUTE), (43, 2.5, 3.5, BASS),
                              (36, 0.5, 0.6, KIT), (38, 3.0, 3.1, KIT)], total=4.0)
    info = musiczoo.piano_roll(sequence, tmp_path / "roll.png")
    png = mimage.imread(tmp_path / "roll.png")
    assert info["tracks"] == ["Flute", "Electric Bass (finger)", "Drums"]
    assert info["notes"] == 4 and info["drawn"] == "vector"
    pitch, drums = info["axes"]
    assert (pitch["kind"], drums["kind"]) == ("pitch", "drums")
    flute, bass, kit = (info["colours"][name] for name in info["tracks"])
    assert len({flute, bass, kit}) == 3
    assert close(pixel(png, pitch, 1.5, 67), flute)
    assert close(pixel(png, pitch, 3.0, 43), bass)
    for time, row in ((0.5, 67), (2.5, 67), (1.5, 43), (1.5, 60)):  # nothing there
        assert not close(pixel(png, pitch, time, row), flute)
        assert not close(pixel(png, pitch, time, row), bass)
    kick, snare = roll.drum_row(36), roll.drum_row(38)
    assert (roll.DRUM_ROWS[kick], roll.DRUM_ROWS[snare]) == ("kick", "snare")
    hit = 0.35 * 15.0 / 120.0  # the middle of a drawn hit
    assert close(pixel(png, drums, 0.5 + hit, kick), kit)
    assert close(pixel(png, drums, 3.0 + hit, snare), kit)
    assert not close(pixel(png, drums, 0.5 + hit, snare), kit)
    assert not close(pixel(png, drums, 3.0 + hit, kick), kit)


def test_the_primer_is_shaded_and_nothing_else(tmp_path):
    sequence = sequence_with([(60, 0.0, 0.5, {}), (72, 3.0, 3.5, {})], total=4.0)
    plain = musiczoo.piano_roll(sequence, tmp_path / "plain.png")
    marked = musiczoo.piano_roll(sequence, tmp_path / "marked.png", marked_until=2.0)
    a, b = mimage.imread(tmp_path / "plain.png"), mimage.imread(tmp_path / "marked.png")
    layout = marked["axes"][0]
    assert layout == plain["axes"][0]
    # A white row (E4, no note): darker inside the primer, the same after it.
    assert pixel(b, layout, 1.0, 64).mean() < pixel(a, layout, 1.0, 64).mean() - 0.03
    assert np.allclose(pixel(b, layout, 3.7, 64), pixel(a, layout, 3.7, 64), atol=0.01)


def test_bar_lines_follow_meter_and_tempo_changes():
    sequence = sequence_with([(60, 0.0, 1.0, {})], qpm=120.0, meter=(3, 4))
    assert roll.bar_times(sequence, 4.5) == pytest.approx([0.0, 1.5, 3.0, 4.5])
    sequence.tempos.add(time=3.0, qpm=60.0)
    assert roll.bar_times(sequence, 9.0) == pytest.approx([0.0, 1.5, 3.0, 6.0, 9.0])
    sequence.tempos.add(time=6.5, qpm=120.0)   # inside a bar: 0.5 s at 60, 2.5 q at 120
    assert roll.bar_times(sequence, 8.0)[-1] == pytest.approx(6.0 + 0.5 + 1.25)
    sequence.time_signatures.add(time=3.0, numerator=2, denominator=4)
    assert roll.bar_times(sequence, 5.0)[:4] == pytest.approx([0.0, 1.5, 3.0, 5.0])
    bare = music_pb2.NoteSequence()  # no tempo, no meter: 120 qpm, 4/4
    assert roll.bar_times(bare, 4.0) == pytest.approx([0.0, 2.0, 4.0])


def test_svg_for_the_web_and_the_same_bytes_every_time(tmp_path):
    sequence = sequence_with([(60 + k % 12, k * 0.25, k * 0.25 + 0.2, {}) for k in range(32)])
    musiczoo.piano_roll(sequence, tmp_path / "a.svg")
    musiczoo.piano_roll(sequence, tmp_path / "b.svg")
    data = (tmp_path / "a.svg").read_bytes()
    assert data == (tmp_path / "b.svg").read_bytes()
    assert ElementTree.fromstring(data).tag.endswith("svg")
    musiczoo.piano_roll(sequence, tmp_path / "a.png")
    musiczoo.piano_roll(sequence, tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_a_huge_piece_is_drawn_as_a_raster_in_bounded_size(tmp_path):
    sequence = music_pb2.NoteSequence()
    rng = np.random.default_rng(0)
    for k in range(roll.MAX_VECTOR_NOTES + 5000):
        start = k * 0.01
        sequence.notes.add(pitch=int(rng.integers(40, 90)), start_time=start,
                           end_time=start + 0.3, velocity=80)
    sequence.total_time = sequence.notes[-1].end_time
    info = musiczoo.piano_roll(sequence, tmp_path / "big.png")
    assert info["drawn"] == "raster" and info["notes"] == len(sequence.notes)
    png = mimage.imread(tmp_path / "big.png")
    assert png.shape[1] <= 24 * roll.DPI + 1
    layout = info["axes"][0]
    middle = sequence.notes[len(sequence.notes) // 2]
    assert close(pixel(png, layout, middle.start_time + 0.15, middle.pitch),
                 info["colours"]["Acoustic Grand Piano"], 0.2)


def test_from_a_midi_file_and_bad_requests_are_refused(tmp_path):
    sequence = sequence_with([(60, 0.0, 1.0, FLUTE), (64, 1.0, 2.0, FLUTE)])
    write_midi(sequence, tmp_path / "in.mid")
    info = musiczoo.piano_roll(tmp_path / "in.mid", tmp_path / "out.png")
    assert info["tracks"] == ["Flute"] and info["notes"] == 2
    with pytest.raises(outputs.OutputError, match="out.png"):
        musiczoo.piano_roll(tmp_path / "in.mid", tmp_path / "out.png")  # never replaced
    musiczoo.piano_roll(tmp_path / "in.mid", tmp_path / "out.png", overwrite=True)
    with pytest.raises(roll.PianoRollError, match="out.jpg"):
        musiczoo.piano_roll(sequence, tmp_path / "out.jpg")
    (tmp_path / "bad.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\xff")
    with pytest.raises(ReadError, match="bad.mid"):
        musiczoo.piano_roll(tmp_path / "bad.mid", tmp_path / "bad.png")
    long = sequence_with([(60, 0.0, roll.MAX_SECONDS + 10, {})])
    with pytest.raises(roll.PianoRollError, match="at most"):
        musiczoo.piano_roll(long, tmp_path / "long.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mid", "in.mid", "out.png"]


def test_generate_writes_audio_and_a_picture_beside_every_midi_file(tmp_path):
    from musiczoo.render import audio
    paths = musiczoo.generate("basic_rnn", tmp_path, num_outputs=2, num_steps=48, seed=3,
                              primer_melody="[60, -2, 64, -2, 67, -2, 72, -2]", wav=True,
                              piano_roll=True, sample_rate=22050)
    mids = [p for p in paths if p.suffix == ".mid"]
    assert len(mids) == 2
    assert sorted(p.name for p in paths) == sorted(
        m.with_suffix(s).name for m in mids for s in (".mid", ".wav", ".png"))
    for mid in mids:
        sound, rate = audio.read_audio(mid.with_suffix(".wav"))
        assert rate == 22050
        seconds = 48 / 4 * 60 / 120  # 48 sixteenths at 120 qpm
        assert seconds <= len(sound) / rate <= seconds + audio.MAX_TAIL_SECONDS + 0.05
        assert np.sqrt(np.mean(sound ** 2)) > 0.01
        png = mimage.imread(mid.with_suffix(".png"))
        layout = roll.draw(musiczoo_read(mid), "png", marked_until=1.0)[1]["axes"][0]
        # The 8-step primer (1 s) is shaded: a bare row is darker inside it than after.
        row = next(p for p in range(int(layout["ylim"][0]) + 1, int(layout["ylim"][1]))
                   if p % 12 in (0, 2, 4, 5, 7, 9, 11)
                   and not any(n.pitch == p for n in musiczoo_read(mid).notes))
        assert pixel(png, layout, 0.5, row).mean() < pixel(png, layout, 5.5, row).mean() - 0.03


def musiczoo_read(path):
    from musiczoo.render.audio import as_sequence
    return as_sequence(path)


def test_compose_with_wav_and_piano_roll_lists_them_in_compose_json(tmp_path):
    out = tmp_path / "song"
    run = subprocess.run(
        [sys.executable, "-m", "musiczoo.scripts.compose",
         "--prompt=calm folk melody in D minor, 90 bpm, 4 bars, 2 variations", "--wav",
         "--piano_roll", "--piano_roll_format=svg", "--seed=1", f"--output_dir={out}"],
        capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    record = json.loads((out / "compose.json").read_text())
    assert record["synth"]
    names = sorted(p.name for p in out.iterdir())
    assert names == ["compose.json"] + sorted(
        f"variation_{n}.{kind}" for n in (1, 2) for kind in ("mid", "svg", "wav"))
    for entry in record["variations"]:
        assert entry["wav"] == entry["file"].replace(".mid", ".wav")
        assert entry["piano_roll"] == entry["file"].replace(".mid", ".svg")
        assert f"{out / entry['wav']}" in run.stdout
    svg = ElementTree.parse(io.BytesIO((out / "variation_1.svg").read_bytes())).getroot()
    assert svg.tag.endswith("svg")
