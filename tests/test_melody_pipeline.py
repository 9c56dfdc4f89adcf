"""The fast melody path must equal note_seq + Magenta's extract_melodies, example for example."""
import note_seq
import numpy as np
import pytest
from note_seq import sequences_lib

from musiczoo.pipelines.codecs.lookback import LookbackCodec
from musiczoo.pipelines.codecs.melody import MelodyOneHotCodec
from musiczoo.pipelines.extract import melodies, notearrays, notetable, reference
from musiczoo.pipelines.extract.extractors import MelodyExtractor
from musiczoo.pipelines.stats import Stats


def fast_examples(sequences, codec, stats, **extract):
    table = notetable.build([notearrays.from_note_sequence(s) for s in sequences], 4, stats)
    batch = melodies.extract_melody_batch(table, stats, **extract)
    events, _ = melodies.squash_batch(batch, 48, 84, 0)
    return [codec.encode(e) for e in batch.split(events)]


def assert_same(expected, actual):
    assert len(expected) == len(actual)
    for (ref_in, ref_lab), (in_, lab) in zip(expected, actual):
        np.testing.assert_array_equal(ref_lab, lab)
        np.testing.assert_array_equal(ref_in, in_)


@pytest.mark.parametrize("extract", [
    dict(max_steps_truncate=512),                       # Magenta's melody_rnn settings
    dict(gap_bars=0.5, min_bars=2),                     # re-segmentation path
    dict(gap_bars=2.0, min_bars=1, max_steps_truncate=40, min_unique_pitches=3),
    dict(ignore_polyphonic_notes=False, min_bars=1),
])
def test_chorales_equal_note_seq(chorales, extract):
    ref_stats, stats = Stats(), Stats()
    expected = [x for s in chorales
                for x in reference.melody_pipeline(s, stats=ref_stats, **extract)]
    actual = fast_examples(chorales, MelodyOneHotCodec(48, 84), stats, **extract)
    assert len(expected) > 20
    assert_same(expected, actual)
    for name, value in ref_stats.counts.items():
        assert stats[name] == value, name


def test_lookback_encoding_equals_note_seq(chorales):
    expected = [x for s in chorales[:10]
                for x in reference.melody_pipeline(s, lookback=True, max_steps_truncate=512)]
    actual = fast_examples(chorales[:10], LookbackCodec(MelodyOneHotCodec(48, 84)), Stats(),
                           max_steps_truncate=512)
    assert_same(expected, actual)


def polyphonic_sequence():
    """Two instruments; instrument 1 has a chord inside its second phrase, 0 velocity notes,
    a drum note and overlapping notes."""
    ns = note_seq.NoteSequence(ticks_per_quarter=220)
    ns.tempos.add(qpm=120)
    pitches = [60, 62, 64, 65, 67, 69, 71, 72]
    for i in range(64):  # 8 bars of eighth notes, 0.25 s each
        start = i * 0.25
        ns.notes.add(pitch=pitches[i % 8], velocity=80, start_time=start,
                     end_time=start + 0.4, instrument=0)
    for i in range(40):  # instrument 1: phrase, 3-bar gap, phrase with a chord
        start = i * 0.5 + (6.0 if i >= 20 else 0.0)
        ns.notes.add(pitch=pitches[(3 * i) % 8] - 12, velocity=0 if i == 5 else 70,
                     start_time=start, end_time=start + 0.5, instrument=1)
    ns.notes.add(pitch=40, velocity=70, start_time=20.0, end_time=21.0, instrument=1)
    ns.notes.add(pitch=36, velocity=100, start_time=3.0, end_time=3.1, instrument=1,
                 is_drum=True)
    ns.total_time = max(n.end_time for n in ns.notes)
    return ns


@pytest.mark.parametrize("ignore", [True, False])
def test_polyphony_and_gaps_equal_note_seq(ignore):
    ns = polyphonic_sequence()
    quantized = sequences_lib.quantize_note_sequence(ns, 4)
    expected = [list(m) for m in reference.extract_melodies(
        quantized, min_bars=1, ignore_polyphonic_notes=ignore)]
    stats = Stats()
    arrays = notearrays.quantize(notearrays.from_note_sequence(ns), 4)
    actual = melodies.extract_melodies(arrays, stats, min_bars=1,
                                       ignore_polyphonic_notes=ignore)
    assert [m.events.tolist() for m in actual] == expected
    assert stats["polyphonic_tracks_discarded"] == (0 if ignore else 1)
    # With the chord kept out, instrument 1 still yields its first phrase.
    assert len(actual) == (3 if ignore else 2)


def test_pad_end_ends_the_last_note():
    ns = note_seq.NoteSequence(ticks_per_quarter=220)
    for i, pitch in enumerate([60, 62, 64, 65, 67]):
        ns.notes.add(pitch=pitch, velocity=80, start_time=i * 0.5, end_time=i * 0.5 + 0.5)
    ns.total_time = 2.5
    quantized = sequences_lib.quantize_note_sequence(ns, 4)
    ref = note_seq.Melody()
    ref.from_quantized_sequence(quantized, pad_end=True, gap_bars=1)
    arrays = notearrays.quantize(notearrays.from_note_sequence(ns), 4)
    (ours,) = melodies.extract_melodies(arrays, min_bars=0, min_unique_pitches=0, pad_end=True)
    assert ours.events.tolist() == list(ref)
    assert len(ours) == 32 and ours.events[20] == melodies.NOTE_OFF


def test_quantization_equals_note_seq(chorales):
    for ns in chorales[:10]:
        parts = notearrays.split_on_time_changes(notearrays.from_note_sequence(ns))
        ref_parts = sequences_lib.split_note_sequence_on_time_changes(ns)
        assert len(parts) == len(ref_parts)
        for part, ref_part in zip(parts, ref_parts):
            ref_q = sequences_lib.quantize_note_sequence(ref_part, 4)
            q = notearrays.quantize(part, 4)
            ref_notes = sorted((n.quantized_start_step, n.quantized_end_step, n.pitch,
                                n.instrument) for n in ref_q.notes)
            ours = sorted(zip(q.start_step.tolist(), q.end_step.tolist(), q.pitch.tolist(),
                              q.instrument.tolist()))
            assert ours == ref_notes
            assert q.steps_per_bar_float == sequences_lib.steps_per_bar_in_quantized_sequence(
                ref_q)


def test_quantize_refuses_what_note_seq_refuses():
    ns = note_seq.NoteSequence()
    ns.time_signatures.add(time=0, numerator=4, denominator=4)
    ns.time_signatures.add(time=2, numerator=3, denominator=4)
    ns.notes.add(pitch=60, velocity=80, start_time=0, end_time=4)
    ns.total_time = 4
    with pytest.raises(sequences_lib.MultipleTimeSignatureError):
        sequences_lib.quantize_note_sequence(ns, 4)
    with pytest.raises(notearrays.QuantizeError) as error:
        notearrays.quantize(notearrays.from_note_sequence(ns), 4)
    assert error.value.reason == "multiple_time_signatures"
    bad = note_seq.NoteSequence()
    bad.time_signatures.add(time=0, numerator=3, denominator=3)
    with pytest.raises(notearrays.QuantizeError, match="power of 2"):
        notearrays.quantize(notearrays.from_note_sequence(bad), 4)


def test_extractor_reports_drops_and_sources(chorales):
    stats = Stats()
    arrays = [notearrays.from_note_sequence(s) for s in chorales[:8]]
    found = MelodyExtractor().extract(arrays, stats)
    assert found and all(0 <= src < 8 for src, _ in found)
    assert stats["melodies_extracted"] == len(found)
    assert stats["melodies_discarded_too_short"] > 0
    for _, events in found:
        pitches = events[events >= 0]
        assert pitches.min() >= 48 and pitches.max() < 84      # squashed into range
        assert len(events) >= 7 * 16 and len(events) <= 512


def test_drum_only_sequence_gives_no_melody():
    ns = note_seq.NoteSequence()
    for i in range(64):
        ns.notes.add(pitch=36 + i % 3, velocity=100, start_time=i * 0.25,
                     end_time=i * 0.25 + 0.1, is_drum=True, instrument=9)
    ns.total_time = 16.0
    stats = Stats()
    assert MelodyExtractor().extract([notearrays.from_note_sequence(ns)], stats) == []
    assert stats["melodies_extracted"] == 0


def test_melody_to_note_sequence_equals_note_seq():
    events = [-2, 60, -2, 62, -1, -2, 64, 64, -2, 65, -1, -2, 67, -2, -2]
    ours = melodies.melody_to_note_sequence(events, 4, qpm=90.0, start_step=16)
    ref = note_seq.Melody(events, start_step=16, steps_per_quarter=4).to_sequence(qpm=90.0)
    assert ours == ref
