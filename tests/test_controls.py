"""Controls every family obeys, verified on the MIDI files written (not on the masks), and
impossible requests refused before anything is sampled."""
import mido
import numpy as np
import pytest

import musiczoo
from musiczoo import commands
from musiczoo.controls import ControlError, Controls, compliance, theory
from musiczoo.pipelines.extract import melodies
from musiczoo.pipelines.readers.files import read_file
from musiczoo.pipelines.writers import write_midi


def written(model_name, tmp_path, controls, count=3, **options):
    """(files read back, their durations) for `count` controlled outputs."""
    paths = commands.generate(model_name, tmp_path / model_name.replace("/", "_"),
                              num_outputs=count, controls=controls, seed=5, **options)
    return [read_file(p)[0] for p in paths], [mido.MidiFile(p).length for p in paths]


def assert_obeyed(sequences, lengths, controls):
    bar = 4 * controls.time_signature[0] / controls.time_signature[1] * 60.0 / (
        controls.qpm or 120.0)
    for sequence, seconds in zip(sequences, lengths):
        report = compliance.measure(sequence, controls)
        pitched = {name: ok for name, ok in report["checks"].items()
                   if name in ("key", "ends_on_tonic", "pitch_set", "pitch_range",
                               "instrument", "drums", "qpm")}
        assert all(pitched.values()), (report, pitched)
        if controls.bars:
            assert seconds == pytest.approx(controls.bars * bar, abs=1e-6)


def test_theory_names():
    assert theory.key("D minor") == (2, "minor") and theory.key("F# dorian") == (6, "dorian")
    assert theory.key("Bb") == (10, "major") and theory.key("Em") == (4, "minor")
    assert theory.key_name(2, "minor") == "D minor" and theory.key_name(10, "major") == "Bb major"
    assert theory.pitch_set("A,B,C#,F#,G") == {9, 11, 1, 6, 7}
    assert theory.pitch_range("G3:G5") == (55, 79) and theory.pitch("C4") == 60
    assert theory.instrument("flute") == 73 and theory.drum_classes("kick,hihat") == {0, 2}
    for bad, words in [("D minr", "did you mean 'minor'"), ("H major", "not a key")]:
        with pytest.raises(ControlError, match=words):
            theory.key(bad)
    with pytest.raises(ControlError, match="did you mean 'snare'"):
        theory.drum_classes("snar")


@pytest.mark.parametrize("model, settings, options", [
    ("basic_rnn", dict(key="D minor", bars=8, qpm=80, pitch_range="57:81"), {}),
    ("basic_rnn", dict(key="D minor", bars=4), dict(beam_size=2, branch_factor=2)),
    ("lookback_rnn", dict(pitch_set="A,B,C#,F#,G", bars=4, instrument="flute"), {}),
    ("attention_rnn", dict(key="Eb major", bars=4), {}),
    ("basic_rnn", dict(key="A minor", bars=4, time_signature="3/4"), {}),
    ("drum_kit_rnn", dict(drums="kick,snare,closed_hihat", bars=2), {}),
    ("cat-mel_2bar_small", dict(key="G major", bars=4, pitch_range="55:79"), {}),
    ("cat-drums_2bar_small", dict(drums="kick,snare"), {}),
    ("chorale_transformer", dict(key="F major", bars=2), dict(top_k=20)),
    ("chorale_transformer", dict(key="D minor", bars=2), dict(beam_size=2, branch_factor=2)),
])
def test_every_family_obeys_its_controls(tmp_path, model, settings, options):
    controls = Controls.parse(**settings)
    sequences, lengths = written(model, tmp_path, controls, **options)
    assert all(s.notes for s in sequences)
    assert_obeyed(sequences, lengths, controls)
    if controls.key is not None:  # the tonic is really there, sounding to the end
        for sequence, seconds in zip(sequences, lengths):
            final = [n for n in sequence.notes if n.end_time >= seconds - 1e-6]
            assert final and min(n.pitch for n in final) % 12 == controls.tonic
    if controls.time_signature != (4, 4):
        assert [(t.numerator, t.denominator) for t in sequences[0].time_signatures] == [(3, 4)]


def test_the_key_is_not_white_notes_in_disguise(tmp_path):
    # The report: "D minor" gave white-note D dorian with no B-flat at all.
    controls = Controls.parse(key="D minor", bars=16)
    sequences, _ = written("basic_rnn", tmp_path, controls, count=4)
    flats = sum(n.pitch % 12 == 10 for s in sequences for n in s.notes)
    naturals = sum(n.pitch % 12 == 11 for s in sequences for n in s.notes)
    assert flats > 0 and naturals == 0


def test_harmonizing_keeps_the_soprano_note_for_note(tmp_path):
    tune = [67, -2, -2, -2, 69, -2, 71, -2, 72, -2, -2, -2, 71, -2, 69, -2,
            67, -2, -2, -2, 66, -2, 64, -2, 62, -2, -2, -2, 66, -2, 67, -2]
    melody = write_midi(melodies.melody_to_note_sequence(tune, 4), tmp_path / "tune.mid")
    controls = Controls.parse(key="G major", harmonize=str(melody))
    sequences, lengths = written("chorale_transformer", tmp_path, controls, count=2)
    given = [(round(n.start_time, 3), n.pitch) for n in read_file(melody)[0].notes]
    for sequence, seconds in zip(sequences, lengths):
        soprano = sorted((round(n.start_time, 3), n.pitch) for n in sequence.notes
                         if n.instrument == 0)
        assert soprano == given
        assert len({n.instrument for n in sequence.notes}) == 4   # A, T, B written
        assert seconds == pytest.approx(4.0)                       # the melody's 2 bars
        assert compliance.measure(sequence, controls)["checks"]["key"]


def test_density_is_steered(tmp_path):
    figures = {}
    for density in ("low", "high"):
        controls = Controls.parse(bars=8, density=density)
        sequences = musiczoo.load_bundle("basic_rnn").generate(6, controls=controls, seed=2)
        figures[density] = sum(compliance.measure(s, controls)["measured"]["notes_per_bar"]
                               for s in sequences) / 6
    assert figures["high"] > figures["low"] + 1.0, figures


@pytest.mark.parametrize("model, settings, words", [
    ("basic_rnn", dict(key="C major", pitch_set="F#"), "no pitch class in common"),
    ("attention_rnn", dict(pitch_range="20:30"), "no pitch the model plays (48..83)"),
    ("attention_rnn", dict(key="C major", bars=4, time_signature="3/4"),
     "writes 4/4 only, not 3/4"),
    ("chorale_transformer", dict(key="C major", bars=16), "context is 512 tokens (8 bars)"),
    ("cat-mel_2bar_small", dict(bars=3), "must be a multiple of 2"),
    ("basic_rnn", dict(drums="kick"), "--drums applies to drum models"),
    ("drum_kit_rnn", dict(key="C major"), "plays drums: key"),
    ("drum_kit_rnn", dict(instrument="flute"), "stay on channel 10"),
    ("basic_rnn", dict(attribute="density:+1"), "--attribute applies to MusicVAE"),
    ("basic_rnn", dict(harmonize="x.mid"), "--harmonize_midi applies to chorale"),
])
def test_impossible_requests_are_refused_before_sampling(model, settings, words):
    with pytest.raises(ControlError) as error:
        musiczoo.load_bundle(model).generate(1, controls=Controls.parse(**settings), seed=1)
    assert words in str(error.value)


def test_a_primer_that_breaks_the_key_is_refused():
    model = musiczoo.load_bundle("basic_rnn")
    with pytest.raises(ControlError, match="primer's step 1 breaks the controls"):
        model.generate(1, primer=[62, 61], controls=Controls.parse(key="D minor", bars=2))


def test_generate_script_takes_control_flags(tmp_path):
    from tests.test_cli import run_script
    done = run_script("generate", "--bundle=basic_rnn", "--num_outputs=2", "--key=E major",
                      "--bars=4", "--qpm=90", f"--output_dir={tmp_path}", "--seed=1")
    assert done.returncode == 0, done.stderr
    assert "controls: 2 of 2 outputs obey every control" in done.stderr
    for path in done.stdout.split():
        sequence = read_file(path)[0]
        assert {n.pitch % 12 for n in sequence.notes} <= theory.scale_pitch_classes(4, "major")
        assert sequence.tempos[0].qpm == pytest.approx(90, rel=1e-5)  # MIDI stores us per beat
    done = run_script("generate", "--bundle=basic_rnn", "--key=C major", "--pitch_set=F#",
                      f"--output_dir={tmp_path / 'no'}")
    assert done.returncode == 1 and "no pitch class in common" in done.stderr
    assert not (tmp_path / "no").exists()


def test_musicvae_attribute_vectors_move_what_they_name():
    vae = musiczoo.load_bundle("cat-mel_2bar_small")
    assert set(vae.attribute_vectors) == {"note_density", "register", "pitch_range",
                                          "syncopation"}
    density = {}
    for amount in (-1.5, 1.5):
        controls = Controls.parse(attribute=f"density:{amount:+}", end_on_tonic=False)
        sequences = vae.generate(8, controls=controls, seed=1, temperature=0.5)
        density[amount] = sum(compliance.measure(s, controls)["measured"]["notes_per_bar"]
                              for s in sequences) / 8
    assert density[1.5] > density[-1.5] + 2, density
    z = np.zeros((1, vae.config.z_size), np.float32)
    np.testing.assert_allclose(vae.shift(z, "register", 2.0)[0],
                               2.0 * np.asarray(vae.attribute_vectors["register"]["vector"]),
                               rtol=1e-6)
    with pytest.raises(ControlError, match="no 'loudness' attribute vector"):
        vae.shift(z, "loudness", 1.0)


def test_the_first_bars_of_a_primer_are_kept_verbatim(tmp_path):
    tune = [60, -2, 64, -2, 67, -2, 64, -2] * 8            # 4 bars of 16th-note steps
    source = write_midi(melodies.melody_to_note_sequence(tune, 4), tmp_path / "tune.mid")
    model = musiczoo.load_bundle("basic_rnn")
    paths = model.generate_to_midi(tmp_path / "out", num_outputs=2, primer_midi=str(source),
                                   primer_bars=2, controls=Controls.parse(bars=4), seed=3)
    kept = [(n.pitch, round(n.start_time, 3)) for n in read_file(source)[0].notes
            if n.start_time < 4.0]
    for path in paths:
        notes = [(n.pitch, round(n.start_time, 3)) for n in read_file(path)[0].notes]
        assert [n for n in notes if n[1] < 4.0] == kept      # bars 1-2: the primer's
        assert mido.MidiFile(path).length == pytest.approx(8.0)
