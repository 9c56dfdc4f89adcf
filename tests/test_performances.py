"""Performance extraction and codec against note_seq / Magenta, on Bach chorales.

The chorales come from music21's installed corpus (read with note_seq's MusicXML
reader); velocities are randomised and sustain-pedal presses added so that velocity
bins and the sustain transform have something to do. The reference pipeline is
Magenta's performance_rnn one (SustainPipeline, StretchPipeline, Splitter(30 s),
Quantizer(100 steps/s), TranspositionPipeline, PerformanceExtractor), restated below
on note_seq functions because magenta itself is not installed.
"""
import collections

import note_seq
import numpy as np
import pytest
from music21 import corpus
from note_seq import encoder_decoder, performance_encoder_decoder, performance_lib, sequences_lib

from musiczoo.pipelines.codecs.base import codec_from_config
from musiczoo.pipelines.codecs.performance import PerformanceCodec
from musiczoo.pipelines.extract import notearrays
from musiczoo.pipelines.extract.performances import (NOTE_OFF, NOTE_ON, TIME_SHIFT, VELOCITY,
                                                     Performance, apply_sustain,
                                                     extract_performances,
                                                     performance_to_note_sequence,
                                                     split_into_chunks)
from musiczoo.pipelines.stats import Stats

CHORALES = ["bwv1.6", "bwv10.7", "bwv101.7", "bwv11.6", "bwv111.6"]


@pytest.fixture(scope="module")
def chorales():
    rng = np.random.default_rng(3)
    sequences = []
    for name in CHORALES:
        ns = note_seq.musicxml_file_to_sequence_proto(str(corpus.getWork(name)))
        for note in ns.notes:
            note.velocity = int(rng.integers(1, 128))
            # The reader puts all voices on instrument 0; make them four, as in a MIDI file.
            note.instrument = note.part
        for t in np.arange(0.0, ns.total_time, 4.0):
            ns.control_changes.add(time=float(t + rng.uniform(0, 1)), control_number=64,
                                   control_value=127)
            ns.control_changes.add(time=float(t + rng.uniform(1.5, 3.5)), control_number=64,
                                   control_value=int(rng.integers(0, 64)))
        sequences.append(ns)
    # One with two programs: Magenta drops it whole.
    mixed = note_seq.NoteSequence()
    mixed.CopyFrom(sequences[1])
    for note in mixed.notes:
        if note.instrument == 1:
            note.program = 41
    sequences.append(mixed)
    return sequences


def magenta_extract_performances(qns, start_step=0, min_events_discard=None,
                                 max_events_truncate=None, max_steps_truncate=None,
                                 num_velocity_bins=0, split_instruments=False):
    """Magenta's performance_pipeline.extract_performances (note_performance=False)."""
    counts, lengths = collections.Counter(), collections.Counter()
    absolute = sequences_lib.is_absolute_quantized_sequence(qns)
    if split_instruments:
        instruments = sorted(set(note.instrument for note in qns.notes))
    else:
        instruments = [None]
        if len(set(note.program for note in qns.notes)) > 1:
            counts["performances_discarded_more_than_1_program"] += 1
            return [], counts, lengths
    performances = []
    for instrument in instruments:
        if absolute:
            performance = performance_lib.Performance(
                qns, start_step=start_step, num_velocity_bins=num_velocity_bins,
                instrument=instrument)
        else:
            performance = performance_lib.MetricPerformance(
                qns, start_step=start_step, num_velocity_bins=num_velocity_bins,
                instrument=instrument)
        if max_steps_truncate is not None and performance.num_steps > max_steps_truncate:
            performance.set_length(max_steps_truncate)
            counts["performances_truncated_timewise"] += 1
        if max_events_truncate is not None and len(performance) > max_events_truncate:
            performance.truncate(max_events_truncate)
            counts["performances_truncated"] += 1
        if min_events_discard is not None and len(performance) < min_events_discard:
            counts["performances_discarded_too_short"] += 1
        else:
            performances.append(performance)
            if absolute:
                lengths[performance.num_steps // qns.quantization_info.steps_per_second] += 1
            else:
                lengths[performance.num_steps //
                        sequences_lib.steps_per_bar_in_quantized_sequence(qns)] += 1
    return performances, counts, lengths


def magenta_transpose(qns, amount):
    """TranspositionPipeline._transpose: pitched notes only, None if any leaves 0..127."""
    out = note_seq.NoteSequence()
    out.CopyFrom(qns)
    for note in out.notes:
        if not note.is_drum:
            note.pitch += amount
            if not 0 <= note.pitch <= 127:
                return None
    return out


def _rows(performance):
    return [(e.event_type, e.event_value) for e in performance]


def _assert_same(ours, theirs):
    assert [p.events.tolist() for p in ours] == [[list(r) for r in _rows(p)] for p in theirs]
    assert [(p.start_step, p.num_steps, p.end_step, p.program, p.is_drum) for p in ours] == [
        (p.start_step, p.num_steps, p.end_step, p.program, p.is_drum) for p in theirs]


def test_pipeline_matches_magenta(chorales):
    ours_stats, counts, lengths, total = Stats(), collections.Counter(), collections.Counter(), 0
    for ns in chorales:
        sustained = apply_sustain(ns)
        arrays = notearrays.from_note_sequence(sustained)
        for factor in (1.0, 1.6):
            ours_chunks = split_into_chunks(notearrays.stretch(arrays, factor), 30.0)
            their_chunks = sequences_lib.split_note_sequence(
                sequences_lib.stretch_note_sequence(sustained, factor), 30.0)
            assert len(ours_chunks) == len(their_chunks)
            for chunk, their_chunk in zip(ours_chunks, their_chunks):
                quantized = notearrays.quantize_absolute(chunk, 100)
                their_quantized = sequences_lib.quantize_note_sequence_absolute(their_chunk, 100)
                for amount in (-3, 0, 3):
                    ours_t = notearrays.transpose(quantized, amount)
                    theirs_t = magenta_transpose(their_quantized, amount)
                    assert (ours_t is None) == (theirs_t is None)
                    ours = extract_performances(ours_t, ours_stats, min_events_discard=32,
                                                max_events_truncate=512, num_velocity_bins=32)
                    theirs, c, h = magenta_extract_performances(
                        theirs_t, min_events_discard=32, max_events_truncate=512,
                        num_velocity_bins=32)
                    _assert_same(ours, theirs)
                    counts.update(c)
                    lengths.update(h)
                    total += len(ours)
    assert dict(ours_stats.counts) == dict(counts)
    assert ours_stats.histograms["performance_lengths_in_seconds"] == lengths
    assert total >= 30 and counts["performances_truncated"] > 0
    assert counts["performances_discarded_more_than_1_program"] > 0


@pytest.mark.parametrize("params", [
    dict(num_velocity_bins=0),
    dict(num_velocity_bins=7, start_step=250, max_steps_truncate=900),
    dict(num_velocity_bins=32, max_steps_truncate=1234, split_instruments=True),
    dict(num_velocity_bins=32, min_events_discard=400, split_instruments=True),
])
def test_extraction_options_match_magenta(chorales, params):
    stats = Stats()
    expected_counts = collections.Counter()
    for ns in chorales:
        their_q = sequences_lib.quantize_note_sequence_absolute(apply_sustain(ns), 100)
        ours = extract_performances(
            notearrays.quantize_absolute(notearrays.from_note_sequence(apply_sustain(ns)), 100),
            stats, **params)
        theirs, counts, _ = magenta_extract_performances(their_q, **params)
        _assert_same(ours, theirs)
        expected_counts.update(counts)
    assert dict(stats.counts) == dict(expected_counts)


def test_metric_performance_matches_note_seq(chorales):
    # Beat-relative quantization needs one tempo and meter: split at time changes first
    # (the chorales open with a pickup bar in another meter).
    compared = 0
    for ns in chorales[:3]:
        ours_parts = notearrays.split_on_time_changes(notearrays.from_note_sequence(ns))
        their_parts = sequences_lib.split_note_sequence_on_time_changes(ns)
        for part, their_part in zip(ours_parts, their_parts):
            ours = extract_performances(notearrays.quantize(part, 4), num_velocity_bins=32)
            theirs, _, _ = magenta_extract_performances(
                sequences_lib.quantize_note_sequence(their_part, 4), num_velocity_bins=32)
            _assert_same(ours, theirs)
            assert ours[0].max_shift_steps == 16 and ours[0].steps_per_second is None
            assert (performance_to_note_sequence(ours[0], qpm=90.0)
                    == theirs[0].to_sequence(qpm=90.0))
            compared += len(ours[0])
    assert compared > 1000


def test_split_into_chunks_matches_note_seq(chorales):
    for ns in chorales:
        stretched = sequences_lib.stretch_note_sequence(ns, 1.6)
        ours = split_into_chunks(notearrays.from_note_sequence(stretched), 30.0)
        theirs = sequences_lib.split_note_sequence(stretched, 30.0)
        assert len(ours) == len(theirs) > 1
        for part, their_part in zip(ours, theirs):
            expected = notearrays.from_note_sequence(their_part)
            for field in notearrays.NOTE_FIELDS:
                np.testing.assert_array_equal(getattr(part, field), getattr(expected, field))
            assert part.total_time == expected.total_time
            assert part.tempos == expected.tempos
            assert part.time_signatures == expected.time_signatures


def test_apply_sustain_extends_notes(chorales):
    from note_seq.protobuf import music_pb2
    ns = music_pb2.NoteSequence(total_time=3.0)
    for pitch, start, end in [(60, 0.0, 0.5), (64, 0.6, 0.8), (64, 1.0, 1.2), (67, 2.5, 3.0),
                              (72, 0.0, 3.0)]:
        ns.notes.add(pitch=pitch, start_time=start, end_time=end, velocity=80)
    for time, number, value in [(0.25, 64, 127), (1.5, 67, 127), (2.0, 64, 0)]:
        ns.control_changes.add(time=time, control_number=number, control_value=value)
    sustained = sorted((n.pitch, n.start_time, n.end_time) for n in apply_sustain(ns).notes)
    # Released under the pedal: sounds on to the pedal's release (2.0 s), or until the same
    # key is struck again (64 at 1.0 s). Held past the release, or played after it:
    # unchanged. Control 67 (soft pedal) is not sustain.
    assert sustained == [(60, 0.0, 2.0), (64, 0.6, 1.0), (64, 1.0, 2.0), (67, 2.5, 3.0),
                         (72, 0.0, 3.0)]
    assert [(n.pitch, n.end_time) for n in ns.notes][:2] == [(60, 0.5), (64, 0.8)]  # a copy
    # On a real chorale with pedal presses: notes only ever get longer, some do.
    before, after = chorales[0], apply_sustain(chorales[0])
    assert len(after.notes) == len(before.notes)
    ends = sorted((n.pitch, n.start_time, n.end_time) for n in before.notes)
    new_ends = sorted((n.pitch, n.start_time, n.end_time) for n in after.notes)
    assert all(b[:2] == a[:2] and a[2] >= b[2] for a, b in zip(new_ends, ends))
    assert sum(a[2] > b[2] for a, b in zip(new_ends, ends)) > 0


def test_to_note_sequence_matches_note_seq(chorales):
    quantized = notearrays.quantize_absolute(
        notearrays.from_note_sequence(apply_sustain(chorales[2])), 100)
    their_q = sequences_lib.quantize_note_sequence_absolute(apply_sustain(chorales[2]), 100)
    (ours,) = extract_performances(quantized, start_step=120, num_velocity_bins=32)
    theirs = performance_lib.Performance(their_q, start_step=120, num_velocity_bins=32)
    for kwargs in [{}, dict(velocity=80, instrument=3, program=5, max_note_duration=0.5)]:
        assert performance_to_note_sequence(ours, **kwargs) == theirs.to_sequence(**kwargs)
    # Truncation cuts notes open: they end at the last step, zero-length ones vanish.
    ours.truncate(301)
    theirs.truncate(301)
    assert performance_to_note_sequence(ours) == theirs.to_sequence()


def test_set_length_matches_note_seq(chorales):
    quantized = notearrays.quantize_absolute(notearrays.from_note_sequence(chorales[0]), 100)
    their_q = sequences_lib.quantize_note_sequence_absolute(chorales[0], 100)
    (ours,) = extract_performances(quantized, num_velocity_bins=32)
    theirs = performance_lib.Performance(their_q, num_velocity_bins=32)
    for steps in (ours.num_steps + 777, ours.num_steps + 3, 1503, 1500, 1, 0, 250):
        ours.set_length(steps)
        theirs.set_length(steps)
        assert ours.events.tolist() == [list(r) for r in _rows(theirs)]
        assert ours.num_steps == steps


def test_empty_and_zero_velocity_quirks():
    empty = notearrays.quantize_absolute(notearrays.from_note_sequence(note_seq.NoteSequence()), 100)
    (performance,) = extract_performances(empty)
    # note_seq calls a note-less performance a drum performance.
    assert len(performance) == 0 and performance.is_drum is True and performance.program is None
    ns = note_seq.NoteSequence()
    ns.notes.add(pitch=60, velocity=90, start_time=0.0, end_time=1.0)
    ns.notes.add(pitch=62, velocity=0, start_time=0.5, end_time=1.0)
    ns.total_time = 1.0
    stats = Stats()
    arrays = notearrays.quantize_absolute(notearrays.from_note_sequence(ns), 100)
    assert extract_performances(arrays, stats) == []
    assert stats["performances_discarded_zero_velocity"] == 1
    with pytest.raises(ValueError):   # note_seq cannot build this one either
        performance_lib.Performance(
            sequences_lib.quantize_note_sequence_absolute(ns, 100), num_velocity_bins=32)


# ---------------------------------------------------------------- codec

@pytest.mark.parametrize("bins, low, high, size", [(32, 0, 127, 388), (0, 0, 127, 356),
                                                   (32, 21, 108, 308)])
def test_codec_matches_note_seq(chorales, bins, low, high, size):
    codec = PerformanceCodec(num_velocity_bins=bins, min_pitch=low, max_pitch=high)
    encoding = performance_encoder_decoder.PerformanceOneHotEncoding(
        num_velocity_bins=bins, min_pitch=low, max_pitch=high)
    reference = encoder_decoder.OneHotEventSequenceEncoderDecoder(encoding)
    assert codec.num_classes == encoding.num_classes == size
    assert codec.default_id == encoding.encode_event(encoding.default_event)
    all_ids = np.arange(size)
    assert codec.ids_to_events(all_ids).tolist() == [
        [e.event_type, e.event_value] for e in map(encoding.decode_event, all_ids)]
    checked = 0
    for ns in chorales[:4]:
        arrays = notearrays.quantize_absolute(notearrays.from_note_sequence(ns), 100)
        (performance,) = extract_performances(arrays, num_velocity_bins=bins,
                                              max_events_truncate=600)
        theirs = list(performance_lib.Performance(
            sequences_lib.quantize_note_sequence_absolute(ns, 100),
            num_velocity_bins=bins))[:600]
        ids = codec.events_to_ids(performance)
        assert ids.tolist() == [encoding.encode_event(e) for e in theirs]
        assert codec.events_to_ids(theirs).tolist() == ids.tolist()
        inputs, labels = codec.encode(performance)
        expected_inputs, expected_labels = reference.encode(theirs)
        np.testing.assert_array_equal(inputs, np.asarray(expected_inputs, np.float32))
        assert labels.tolist() == expected_labels
        np.testing.assert_array_equal(codec.ids_to_events(ids), performance.events)
        checked += len(ids)
    assert checked > 1000


def test_codec_reserved_ids_and_bad_input():
    # Music Transformer's piano vocabulary: 2 reserved ids (pad, eos) + 308 = 310.
    codec = PerformanceCodec(min_pitch=21, max_pitch=108, num_reserved_ids=2)
    assert codec.num_classes == 310
    assert codec.events_to_ids([(NOTE_ON, 21), (NOTE_OFF, 108), (TIME_SHIFT, 1),
                                (VELOCITY, 32)]).tolist() == [2, 88 + 88 + 1, 178, 309]
    with pytest.raises(ValueError, match="NOTE_ON, 20"):
        codec.events_to_ids([(NOTE_ON, 20)])
    with pytest.raises(ValueError, match="TIME_SHIFT, 0"):
        codec.events_to_ids([(TIME_SHIFT, 0)])
    with pytest.raises(ValueError, match="VELOCITY"):
        PerformanceCodec(num_velocity_bins=0).events_to_ids([(VELOCITY, 1)])
    with pytest.raises(ValueError, match="event ids"):
        codec.ids_to_events([1])


@pytest.mark.parametrize("codec", [PerformanceCodec(),
                                   PerformanceCodec(0, 50, 21, 108, num_reserved_ids=2)])
def test_codec_config_round_trip(codec):
    config = codec.get_config()
    rebuilt = codec_from_config(config)
    assert rebuilt == codec and rebuilt.get_config() == config
    assert set(config) - {"class"} == {"num_velocity_bins", "max_shift_steps", "min_pitch",
                                       "max_pitch", "num_reserved_ids"}


def test_decode_round_trip(chorales):
    codec = PerformanceCodec()
    arrays = notearrays.quantize_absolute(notearrays.from_note_sequence(chorales[3]), 100)
    (performance,) = extract_performances(arrays)
    events = codec.ids_to_events(codec.events_to_ids(performance))
    decoded = performance_to_note_sequence(Performance(events))
    assert decoded == performance_to_note_sequence(performance)
    again = extract_performances(notearrays.quantize_absolute(
        notearrays.from_note_sequence(decoded), 100))[0]
    # Velocities come back as the bins' lowest velocity, so the bins are unchanged.
    assert again.events.tolist() == performance.events.tolist()
