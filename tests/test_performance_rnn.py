"""Performance RNN (Magenta's performance, performance_with_dynamics) on the events-RNN
core: real performances become examples, a tiny config learns them, generation writes
expressive piano, a MIDI primer is continued note for note, controls it cannot obey are
refused with the reason."""
import numpy as np
import pytest

from musiczoo import commands, registry
from musiczoo.controls import ControlError, Controls
from musiczoo.pipelines.readers.midi import midi_bytes_to_sequence
from musiczoo.pipelines.writers import write_midi

TINY = "layer_sizes=[24],batch_size=8"


@pytest.fixture(scope="module")
def performance_dataset(tmp_path_factory, chorale_folder):
    out = tmp_path_factory.mktemp("performance_dataset")
    result = commands.create_dataset("performance_with_dynamics", str(chorale_folder(12)), out,
                                     eval_ratio=0.25, progress=False)
    assert result.counts["training"] > 5 and result.counts["eval"] > 0
    return out


def test_configs_under_magentas_names():
    _, plain = registry.find_config("performance")
    _, dynamics = registry.find_config("performance_with_dynamics")
    assert plain.codec().num_classes == 356 and dynamics.codec().num_classes == 388
    assert plain.layer_sizes == (512, 512, 512) and plain.dropout_rate == 0.0


def test_a_tiny_performance_rnn_learns_and_plays(performance_dataset, tmp_path, chorales):
    first = commands.train(performance_dataset, tmp_path / "run",
                           config="performance_with_dynamics", hparams=TINY,
                           num_training_steps=1, eval_every=1, progress=False)
    later = commands.train(performance_dataset, tmp_path / "run",
                           config="performance_with_dynamics", hparams=TINY,
                           num_training_steps=60, eval_every=60, progress=False)
    assert later["eval_loss"] < first["eval_loss"] - 0.3
    bundle = tmp_path / "run" / "performance_with_dynamics.mzb"
    paths = commands.generate(bundle, tmp_path / "out", num_outputs=2, num_steps=200, seed=1)
    pieces = [midi_bytes_to_sequence(p.read_bytes()) for p in paths]
    assert all(p.notes for p in pieces)
    assert len({n.velocity for p in pieces for n in p.notes}) > 1   # dynamics
    # A MIDI primer is continued: its notes come first, unchanged (10 ms grid).
    primer = tmp_path / "primer.mid"
    head = chorales[0]
    del head.notes[12:]
    for note in head.notes:
        note.instrument, note.program = 0, 0
    write_midi(head, primer)
    again = commands.generate(bundle, tmp_path / "continued", num_outputs=1, num_steps=300,
                              primer_midi=str(primer), seed=2, piano_roll=True)
    continued = midi_bytes_to_sequence(again[0].read_bytes())
    given = [(n.pitch, n.start_time) for n in midi_bytes_to_sequence(primer.read_bytes()).notes]
    got = [(n.pitch, n.start_time) for n in continued.notes]
    for pitch, start in given:   # every primer note, on the 10 ms grid
        assert any(p == pitch and abs(t - start) <= 0.0051 for p, t in got), (pitch, start)
    assert len(got) > len(given)
    assert again[1].suffix == ".png"
    with pytest.raises(ControlError, match="--instrument and --qpm only"):
        commands.generate(bundle, tmp_path / "keyed", num_outputs=1,
                          controls=Controls.parse(key="D minor"))
    with pytest.raises(ValueError, match="--primer_melody does not apply"):
        commands.generate(bundle, tmp_path / "m", num_outputs=1, primer_melody="[60]")
    flute = commands.generate(bundle, tmp_path / "flute", num_outputs=1, num_steps=100,
                              controls=Controls.parse(instrument="flute"), seed=3)
    assert {n.program for n in midi_bytes_to_sequence(flute[0].read_bytes()).notes} == {73}
    assert np.isfinite(later["eval_loss"])


def test_the_modulo_encoded_config_builds_a_dataset_and_trains(tmp_path, chorale_folder):
    out = tmp_path / "ds"
    result = commands.create_dataset("performance_with_dynamics_and_modulo_encoding",
                                     str(chorale_folder(6)), out, eval_ratio=0.0, progress=False)
    assert result.counts["training"] > 0
    metrics = commands.train(out, tmp_path / "run", config="performance_with_dynamics_and_"
                             "modulo_encoding", hparams=TINY, num_training_steps=3,
                             eval_every=0, progress=False)
    assert metrics["step"] == 3 and np.isfinite(metrics["loss"])


@pytest.mark.parametrize("name", ["density_conditioned_performance_with_dynamics",
                                  "multiconditioned_performance_with_dynamics"])
def test_conditioned_examples_equal_note_seqs_and_train(name, tmp_path, chorale_folder,
                                                        chorales):
    """Training inputs of a conditioned config: what note_seq's
    ConditionalEventSequenceEncoderDecoder makes from the same performance and signals."""
    from note_seq import encoder_decoder, performance_controls, performance_lib
    from note_seq.performance_encoder_decoder import PerformanceOneHotEncoding
    from musiczoo.pipelines.extract import performances
    _, cfg = registry.find_config(name)
    codec = cfg.codec()
    found = performances.performance_of(chorales[2], 32)
    ids = codec.events_to_ids(found.events)[:300]
    inputs, labels = codec.encode(codec.ids_to_events(ids))
    reference = performance_lib.Performance(steps_per_second=100, num_velocity_bins=32)
    for event_type, value in codec.ids_to_events(ids):
        reference.append(performance_lib.PerformanceEvent(int(event_type), int(value)))
    signals = [performance_controls.NoteDensityPerformanceControlSignal(
        window_size_seconds=3.0, density_bin_ranges=[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0])]
    if name.startswith("multi"):
        signals.append(performance_controls.PitchHistogramPerformanceControlSignal(
            window_size_seconds=5.0))
        control_encoder = encoder_decoder.MultipleEventSequenceEncoder(
            [s.encoder for s in signals])
        control_events = list(zip(*[s.extract(reference) for s in signals]))
    else:
        control_encoder = signals[0].encoder
        control_events = signals[0].extract(reference)
    conditional = encoder_decoder.ConditionalEventSequenceEncoderDecoder(
        control_encoder, encoder_decoder.OneHotEventSequenceEncoderDecoder(
            PerformanceOneHotEncoding(num_velocity_bins=32)))
    want = [conditional.events_to_input(control_events, reference, i)
            for i in range(len(ids) - 1)]
    np.testing.assert_allclose(inputs, np.asarray(want, np.float32), atol=1e-6)
    np.testing.assert_array_equal(labels, ids[1:])
    out = tmp_path / "ds"
    result = commands.create_dataset(name, str(chorale_folder(4)), out, eval_ratio=0.0,
                                     progress=False)
    assert result.counts["training"] > 0
    metrics = commands.train(out, tmp_path / "run", config=name, hparams=TINY,
                             num_training_steps=3, eval_every=0, progress=False)
    assert metrics["step"] == 3 and np.isfinite(metrics["loss"])
