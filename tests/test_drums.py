"""Drum-track extraction and drum codecs against note_seq / Magenta, on real MIDI files.

The reference is Magenta's drum_pipelines.extract_drum_tracks (a loop over
note_seq.DrumTrack.from_quantized_sequence), restated below because magenta itself is
not installed.
"""
import collections

import note_seq
import numpy as np
import pretty_midi
import pytest
from note_seq import drums_encoder_decoder, encoder_decoder, events_lib, sequences_lib

from musiczoo.pipelines.codecs.base import codec_from_config
from musiczoo.pipelines.codecs.drums import ONE_DRUM_PITCHES, MultiDrumCodec
from musiczoo.pipelines.codecs.lookback import LookbackCodec
from musiczoo.pipelines.extract import notearrays
from musiczoo.pipelines.extract.drums import (DrumTrack, drum_track_to_note_sequence,
                                              extract_drum_tracks)
from musiczoo.pipelines.stats import Stats

KIT = [36, 38, 42, 46, 45, 48, 50, 49, 51, 35, 40, 44, 75, 56, 22]  # known pitches
ODD = [20, 90, 127]                                                 # not in the 9-piece kit


def magenta_extract_drum_tracks(qns, search_start_step=0, min_bars=7, max_steps_truncate=None,
                                max_steps_discard=None, gap_bars=1.0, pad_end=False,
                                ignore_is_drum=False):
    """Magenta's extract_drum_tracks + DrumsExtractor's error handling, as counters."""
    counts, lengths, tracks = collections.Counter(), collections.Counter(), []
    steps_per_bar = int(sequences_lib.steps_per_bar_in_quantized_sequence(qns))
    while True:
        track = note_seq.DrumTrack()
        try:
            track.from_quantized_sequence(qns, search_start_step=search_start_step,
                                          gap_bars=gap_bars, pad_end=pad_end,
                                          ignore_is_drum=ignore_is_drum)
        except events_lib.NonIntegerStepsPerBarError:
            counts["non_integer_steps_per_bar"] += 1
            return [], counts, lengths
        search_start_step = (track.end_step + (search_start_step - track.end_step) % steps_per_bar)
        if not track:
            break
        if len(track) < track.steps_per_bar * min_bars:
            counts["drum_tracks_discarded_too_short"] += 1
            continue
        if max_steps_discard is not None and len(track) > max_steps_discard:
            counts["drum_tracks_discarded_too_long"] += 1
            continue
        if max_steps_truncate is not None and len(track) > max_steps_truncate:
            length = max_steps_truncate
            if pad_end:
                length -= max_steps_truncate % track.steps_per_bar
            track.set_length(length)
            counts["drum_tracks_truncated"] += 1
        lengths[len(track) // track.steps_per_bar] += 1
        tracks.append(track)
    return tracks, counts, lengths


# ---------------------------------------------------------------- real MIDI files

def _drum_bars(rng, instrument, bar_seconds, first_bar, num_bars, fill_pitches=KIT):
    """A groove (kick, snare, hats) with random fills and velocities, one bar at a time."""
    sixteenth = bar_seconds / 16
    for bar in range(first_bar, first_bar + num_bars):
        for step in range(16):
            t = bar * bar_seconds + step * sixteenth
            hits = []
            if step % 8 == 0:
                hits.append(36)
            if step % 8 == 4:
                hits.append(38)
            if step % 2 == 0:
                hits.append(42)
            if rng.random() < 0.2:
                hits.append(int(rng.choice(fill_pitches)))
            for pitch in hits:
                # Slight humanisation so that quantization has work to do.
                jitter = rng.uniform(-0.2, 0.2) * sixteenth
                instrument.notes.append(pretty_midi.Note(
                    int(rng.integers(40, 128)), pitch, max(0.0, t + jitter),
                    max(0.0, t + jitter) + sixteenth / 2))


def _write_and_read(pm, path):
    pm.write(str(path))
    return note_seq.midi_file_to_note_sequence(str(path))


@pytest.fixture(scope="module")
def midi_sequences(tmp_path_factory):
    rng = np.random.default_rng(7)
    folder = tmp_path_factory.mktemp("drums")
    sequences = []

    # 1: 4/4 at 120 qpm, 10 bars, a 3-bar gap, 9 more bars, 40 bars after a 1-bar gap
    # (long enough to be truncated at 512 steps), plus a piano that must be ignored.
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    drums = pretty_midi.Instrument(program=0, is_drum=True)
    _drum_bars(rng, drums, 2.0, 0, 10, KIT + ODD)
    _drum_bars(rng, drums, 2.0, 13, 9)
    _drum_bars(rng, drums, 2.0, 23, 40)
    piano = pretty_midi.Instrument(program=0)
    piano.notes += [pretty_midi.Note(80, 60 + i % 12, 0.5 * i, 0.5 * i + 0.4) for i in range(200)]
    pm.instruments += [drums, piano]
    sequences.append(_write_and_read(pm, folder / "groove.mid"))

    # 2: a tempo change (120 -> 90 qpm at 16 s) and a 3/4 section in another file.
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    # pretty_midi has no public tempo-change API; add one to its tick scale map, which
    # write() turns into a set_tempo event (note_seq's own MIDI writer does the same).
    change_tick = pm.time_to_tick(16.0)
    pm._tick_scales.append((change_tick, 60.0 / (90.0 * pm.resolution)))
    pm._update_tick_to_time(change_tick + 1)
    drums = pretty_midi.Instrument(program=0, is_drum=True)
    _drum_bars(rng, drums, 2.0, 0, 8)                      # 8 bars at 120 qpm
    bar_90 = 4 * 60.0 / 90.0
    for note in _bars_at(rng, bar_90, 9):
        note.start += 16.0
        note.end += 16.0
        drums.notes.append(note)
    pm.instruments.append(drums)
    sequences.append(_write_and_read(pm, folder / "tempo_change.mid"))

    pm = pretty_midi.PrettyMIDI(initial_tempo=100)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(3, 4, 0.0))
    drums = pretty_midi.Instrument(program=0, is_drum=True)
    bar_34 = 3 * 60.0 / 100.0
    for note in _bars_at(rng, bar_34 * 4 / 3, 12):         # 16th grid, 12 steps per bar
        drums.notes.append(note)
    pm.instruments.append(drums)
    sequences.append(_write_and_read(pm, folder / "waltz.mid"))
    return sequences


def _bars_at(rng, bar_seconds, num_bars):
    holder = pretty_midi.Instrument(program=0, is_drum=True)
    _drum_bars(rng, holder, bar_seconds, 0, num_bars)
    return holder.notes


def _random_sequence(rng, index):
    """An in-memory drum NoteSequence: gaps of many sizes, chords, zero velocities,
    pitched notes, odd time signatures."""
    ns = note_seq.NoteSequence(ticks_per_quarter=220)
    numerator, denominator = [(4, 4), (3, 4), (6, 8), (7, 8), (5, 4)][index % 5]
    ns.time_signatures.add(time=0.0, numerator=numerator, denominator=denominator)
    ns.tempos.add(time=0.0, qpm=float(rng.choice([90.0, 120.0, 137.0])))
    t = float(rng.uniform(0, 8))
    for _ in range(int(rng.integers(30, 300))):
        t += float(rng.choice([0.125, 0.25, 0.5, 0.0, 1.0, 2.5, 4.0, 9.0],
                              p=[.3, .3, .15, .1, .05, .04, .03, .03]))
        ns.notes.add(pitch=int(rng.choice(KIT + ODD)), velocity=int(rng.choice([0, 1, 90, 127])),
                     start_time=t, end_time=t + 0.1, is_drum=bool(rng.random() < 0.9),
                     instrument=9)
    ns.total_time = t + 0.1
    return ns


def _quantized_pairs(sequences, steps_per_quarter):
    """(ours, note_seq's) for every time-change split of every sequence."""
    pairs = []
    for ns in sequences:
        ours = notearrays.split_on_time_changes(notearrays.from_note_sequence(ns))
        theirs = sequences_lib.split_note_sequence_on_time_changes(ns)
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            pairs.append((notearrays.quantize(a, steps_per_quarter),
                          sequences_lib.quantize_note_sequence(b, steps_per_quarter)))
    return pairs


PARAMS = [
    dict(min_bars=7, max_steps_truncate=512, gap_bars=1.0),          # Magenta's DrumsExtractor
    dict(min_bars=1, gap_bars=1.0),
    dict(min_bars=2, gap_bars=0.5, pad_end=True, max_steps_truncate=100),
    dict(min_bars=0, gap_bars=2.0, max_steps_discard=200, ignore_is_drum=True),
    dict(min_bars=1, gap_bars=0.25, search_start_step=8, pad_end=True),
]


def _assert_same(pairs, params):
    total = 0
    for ours, qns in pairs:
        stats = Stats()
        tracks = extract_drum_tracks(ours, stats, **params)
        expected, counts, lengths = magenta_extract_drum_tracks(qns, **params)
        assert [t.events for t in tracks] == [list(t) for t in expected]
        assert [(t.start_step, t.end_step, t.steps_per_bar, t.steps_per_quarter)
                for t in tracks] == [(t.start_step, t.end_step, t.steps_per_bar,
                                      t.steps_per_quarter) for t in expected]
        assert dict(stats.counts) == dict(counts)
        assert dict(stats.histograms.get("drum_track_lengths_in_bars", {})) == dict(lengths)
        total += len(tracks)
    return total


@pytest.mark.parametrize("params", PARAMS)
def test_extraction_matches_magenta_on_midi_files(midi_sequences, params):
    pairs = _quantized_pairs(midi_sequences, 4)
    assert len(pairs) == 4          # the tempo change splits file 2 in two
    _assert_same(pairs, params)


def test_extraction_with_drums_rnn_settings(midi_sequences):
    stats = Stats()
    tracks = []
    for ours, _ in _quantized_pairs(midi_sequences, 4):
        tracks += extract_drum_tracks(ours, stats, min_bars=7, max_steps_truncate=512)
    # groove.mid: 10 bars, a 3-bar gap, 9 bars, a 1-bar gap, 40 bars cut to 512 steps;
    # the piano is ignored, and each side of the tempo change is one track.
    assert [len(t) for t in tracks][:3] == [159, 143, 512]
    assert [t.start_step for t in tracks][:3] == [0, 13 * 16, 23 * 16]
    assert len(tracks) == 6 and dict(stats.counts) == {"drum_tracks_truncated": 1}


@pytest.mark.parametrize("params", PARAMS)
def test_extraction_matches_magenta_on_random_sequences(params):
    rng = np.random.default_rng(11)
    sequences = [_random_sequence(rng, i) for i in range(15)]
    pairs = _quantized_pairs(sequences, 4) + _quantized_pairs(sequences[:5], 1)
    assert _assert_same(pairs, params) > 0


def test_non_integer_steps_per_bar_is_counted():
    ns = note_seq.NoteSequence()
    ns.time_signatures.add(numerator=7, denominator=8)
    ns.notes.add(pitch=36, velocity=100, start_time=0.0, end_time=0.1, is_drum=True)
    ns.total_time = 0.1
    stats = Stats()
    arrays = notearrays.quantize(notearrays.from_note_sequence(ns), 1)  # 3.5 steps per bar
    assert extract_drum_tracks(arrays, stats) == []
    assert stats["non_integer_steps_per_bar"] == 1


def test_unquantized_input_is_refused():
    arrays = notearrays.from_note_sequence(note_seq.NoteSequence())
    with pytest.raises(ValueError, match="quantized"):
        extract_drum_tracks(arrays)


def test_to_note_sequence_matches_note_seq(midi_sequences):
    pairs = _quantized_pairs(midi_sequences, 4)
    for ours, _ in pairs:
        for track in extract_drum_tracks(ours, min_bars=1):
            reference = note_seq.DrumTrack(list(track.events), start_step=track.start_step,
                                           steps_per_bar=track.steps_per_bar,
                                           steps_per_quarter=track.steps_per_quarter)
            a = drum_track_to_note_sequence(track, qpm=100.0, sequence_start_time=1.5)
            b = reference.to_sequence(qpm=100.0, sequence_start_time=1.5)
            key = lambda n: (n.start_time, n.pitch)  # noqa: E731
            assert sorted(a.notes, key=key) == sorted(b.notes, key=key)
            assert (a.total_time, list(a.tempos)) == (b.total_time, list(b.tempos))


# ---------------------------------------------------------------- codecs

def _tracks(midi_sequences):
    return [t for ours, _ in _quantized_pairs(midi_sequences, 4)
            for t in extract_drum_tracks(ours, min_bars=1)]


@pytest.mark.parametrize("pitches", [None, ONE_DRUM_PITCHES, [[36], [38, 40], [42, 36]]])
def test_multi_drum_codec_matches_note_seq(midi_sequences, pitches):
    codec = MultiDrumCodec(pitches)
    encoding = drums_encoder_decoder.MultiDrumOneHotEncoding(
        None if pitches is None else [list(p) for p in pitches])
    reference = encoder_decoder.OneHotEventSequenceEncoderDecoder(encoding)
    assert codec.num_classes == encoding.num_classes == reference.num_classes
    assert codec.default_id == encoding.encode_event(encoding.default_event)
    for track in _tracks(midi_sequences):
        ids = codec.events_to_ids(track)
        assert ids.tolist() == [encoding.encode_event(e) for e in track]
        inputs, labels = codec.encode(track)
        expected_inputs, expected_labels = reference.encode(track.events)
        np.testing.assert_array_equal(inputs, np.asarray(expected_inputs, np.float32))
        assert labels.tolist() == expected_labels
        decoded = codec.ids_to_events(ids)
        assert decoded == [encoding.decode_event(i) for i in ids.tolist()]
        assert codec.events_to_ids(decoded).tolist() == ids.tolist()


def test_drum_kit_lookback_matches_note_seq(midi_sequences):
    # Magenta's drum_kit: Lookback(MultiDrumOneHotEncoding(), no distances, 6 counter bits).
    codec = LookbackCodec(MultiDrumCodec(), lookback_distances=[], binary_counter_bits=6)
    reference = encoder_decoder.LookbackEventSequenceEncoderDecoder(
        drums_encoder_decoder.MultiDrumOneHotEncoding(), lookback_distances=[],
        binary_counter_bits=6)
    assert (codec.num_classes, codec.input_size) == (512, 518)
    for track in _tracks(midi_sequences)[:3]:
        inputs, labels = codec.encode(track)
        expected_inputs, expected_labels = reference.encode(track.events)
        np.testing.assert_array_equal(inputs, np.asarray(expected_inputs, np.float32))
        assert labels.tolist() == expected_labels


def test_decode_round_trip_and_bad_input():
    codec = MultiDrumCodec()
    ids = np.arange(512)
    assert codec.events_to_ids(codec.ids_to_events(ids)).tolist() == ids.tolist()
    assert codec.ids_to_events([0, 1, 3]) == [frozenset(), frozenset({36}), frozenset({36, 38})]
    assert codec.events_to_ids([{36, 35, 20}, [42]]).tolist() == [1, 4]  # 20 is unknown
    with pytest.raises(ValueError, match="unknown drum pitch 20"):
        MultiDrumCodec(ignore_unknown_drums=False).events_to_ids([{20}])
    with pytest.raises(ValueError, match="class ids"):
        codec.ids_to_events([512])
    with pytest.raises(ValueError, match="outside"):
        MultiDrumCodec([[36, 200]])


@pytest.mark.parametrize("codec", [MultiDrumCodec(), MultiDrumCodec(ONE_DRUM_PITCHES, False)])
def test_config_round_trip(codec):
    config = codec.get_config()
    rebuilt = codec_from_config(config)
    assert rebuilt == codec and rebuilt.get_config() == config
    assert set(config) - {"class"} == {"drum_type_pitches", "ignore_unknown_drums"}
    assert ONE_DRUM_PITCHES[0].count(39) == 2 and MultiDrumCodec(ONE_DRUM_PITCHES).num_classes == 2


def test_drum_track_set_length():
    track = DrumTrack([frozenset({36})] * 3, start_step=16)
    track.set_length(5)
    assert track.events[3:] == [frozenset(), frozenset()] and track.end_step == 21
    track.set_length(1)
    assert len(track) == 1 and track.end_step == 17
