"""Generation from trained bundles: MIDI out, seeds, beam search, primers, clear errors."""

import note_seq
import numpy as np
import pretty_midi
import pytest

import musiczoo
from musiczoo import commands, registry
from musiczoo.models.events_rnn.primers import PrimerError
from tests.test_cli import run_script
from tests.test_dataset import write_drum_midi


@pytest.fixture(scope="module")
def melody_bundle(tmp_path_factory, chorale_folder):
    folder = chorale_folder(16)
    data = tmp_path_factory.mktemp("lookback_data")
    commands.create_dataset("lookback_rnn", str(folder), data, eval_ratio=0.0, progress=False)
    run = tmp_path_factory.mktemp("lookback_run")
    commands.train(data, run, config="lookback_rnn", hparams="layer_sizes=[32],batch_size=8",
                   num_training_steps=60, eval_every=0, progress=False)
    return run / "lookback_rnn.mzb"


@pytest.fixture(scope="module")
def drum_bundle(tmp_path_factory):
    folder = tmp_path_factory.mktemp("grooves")
    for n in range(4):
        write_drum_midi(folder / f"groove{n}.mid", bars=8 + n, qpm=100 + 10 * n)
    data = tmp_path_factory.mktemp("drum_data")
    commands.create_dataset("drum_kit", str(folder), data, eval_ratio=0.0, progress=False)
    run = tmp_path_factory.mktemp("drum_run")
    commands.train(data, run, config="drum_kit",
                   hparams="layer_sizes=[32],attn_length=4,batch_size=4",
                   num_training_steps=40, eval_every=0, progress=False)
    return run / "drum_kit.mzb"


def test_melodies_from_a_bundle(melody_bundle):
    model = musiczoo.load_bundle(str(melody_bundle))
    sequences = model.generate(3, 64, seed=7, primer=[60, -2, 62, -2])
    assert len(sequences) == 3
    for sequence in sequences:
        pitches = [n.pitch for n in sequence.notes]
        assert pitches[:2] == [60, 62]                      # the primer is kept
        assert all(48 <= p < 84 for p in pitches)
        assert sequence.total_time <= 64 * 0.125 + 1e-6     # 64 sixteenths at 120 qpm
    again = model.generate(3, 64, seed=7, primer=[60, -2, 62, -2])
    assert again == sequences
    assert model.generate(3, 64, seed=8, primer=[60, -2, 62, -2]) != sequences


def test_beam_search_and_temperature(melody_bundle):
    model = musiczoo.load_bundle(str(melody_bundle))
    plain = model.generate(4, 48, seed=1, temperature=1.0)
    beams = model.generate(4, 48, seed=1, beam_size=4, branch_factor=2, steps_per_iteration=4)
    score = lambda seqs: np.mean([float(s.sequence_metadata.title.split()[-1][:-1]) for s in seqs])
    assert score(beams) > score(plain)
    # Near-greedy: the tempered distribution is sharp, so the chosen events' tempered
    # log-likelihood is far closer to 0 than plain sampling's.
    cold = model.generate(4, 48, seed=1, temperature=0.05)
    assert score(cold) > score(plain) / 2


def test_primer_midi_is_continued_in_its_key(melody_bundle, tmp_path):
    midi = pretty_midi.PrettyMIDI(initial_tempo=100)
    piano = pretty_midi.Instrument(0)
    for i, pitch in enumerate([74, 76, 78, 79]):   # D major, above C4-B5 after squash? kept
        piano.notes.append(pretty_midi.Note(90, pitch, i * 0.6, i * 0.6 + 0.5))
    midi.instruments.append(piano)
    midi.write(str(tmp_path / "primer.mid"))
    model = musiczoo.load_bundle(str(melody_bundle))
    (sequence,) = model.generate(1, 64, seed=0, primer=str(tmp_path / "primer.mid"))
    assert [n.pitch for n in sequence.notes][:4] == [74, 76, 78, 79]
    assert sequence.tempos[0].qpm == pytest.approx(100, abs=0.01)


@pytest.mark.parametrize("primer,message", [
    ([90, -2], "outside lookback_rnn's range"),
    ([], "empty"),
    ([(60, 64), 62], "polyphonic"),
    ({"primer_drums": "[(36,)]"}, "does not apply"),
    ({"primer_melody": "[60, oops]"}, "not a Python list"),
])
def test_bad_primers_are_explained(melody_bundle, primer, message):
    model = musiczoo.load_bundle(str(melody_bundle))
    with pytest.raises(PrimerError, match=message):
        model.generate(1, 32, primer=primer)


def test_impossible_requests_are_explained(melody_bundle, tmp_path):
    model = musiczoo.load_bundle(str(melody_bundle))
    with pytest.raises(ValueError, match="must be larger than the primer"):
        model.generate(1, 3, primer=[60, -2, 62, -2])
    with pytest.raises(ValueError, match="num_outputs"):
        model.generate(0, 32)
    (tmp_path / "bad.mid").write_bytes(b"MThd garbage")
    with pytest.raises(PrimerError, match="unreadable primer"):
        model.generate(1, 32, primer=str(tmp_path / "bad.mid"))
    with pytest.raises(registry.RegistryError, match="cannot interpolate"):
        commands.interpolate(str(melody_bundle), "a.mid", "b.mid", tmp_path)


def test_drums_from_a_bundle(drum_bundle):
    model = musiczoo.load_bundle(str(drum_bundle))
    sequences = model.generate(2, 32, seed=3, primer=[(36, 42), (), (42,)])
    for sequence in sequences:
        assert all(n.is_drum for n in sequence.notes)
        first = sorted(n.pitch for n in sequence.notes if n.start_time == 0)
        assert first == [36, 42]
    with pytest.raises(PrimerError, match="tuple of MIDI pitches"):
        model.generate(1, 32, primer={"primer_drums": "[(36, 300)]"})


def test_generate_script_writes_midi(melody_bundle, tmp_path):
    out = tmp_path / "out"
    done = run_script("generate", f"--bundle={melody_bundle}", "--num_outputs=2",
                      "--num_steps=32", f"--output_dir={out}", "--seed=5",
                      "--primer_melody=[60, -2, 64]")
    assert done.returncode == 0, done.stderr
    files = sorted(out.glob("*.mid"))
    assert len(files) == 2
    assert note_seq.midi_file_to_note_sequence(str(files[0])).notes[0].pitch == 60
    bad = run_script("generate", f"--bundle={melody_bundle}", f"--output_dir={out}",
                     "--primer_melody=[99]")
    assert bad.returncode == 1 and "outside" in bad.stderr and "Traceback" not in bad.stderr
