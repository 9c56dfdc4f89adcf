"""The slow path, built only from note_seq: what musiczoo's fast pipelines must equal.

Magenta's melody pipeline (time-change split, quantize, extract_melodies, squash,
one-hot encode) re-assembled from note_seq's own classes. Magenta's `extract_melodies`
lived in magenta.pipelines, which no longer installs, so its loop is restated here.
Used by the tests (equality on real corpora) and by benchmarks/pipeline_bench.py.
"""
import numpy as np
import note_seq
from note_seq import encoder_decoder, melodies_lib, melody_encoder_decoder, sequences_lib


def extract_melodies(quantized, *, min_bars=7, max_steps_truncate=None, gap_bars=1.0,
                     min_unique_pitches=5, ignore_polyphonic_notes=True, stats=None):
    """Magenta's melody_pipelines.extract_melodies (search_start_step=0, no pad_end)."""
    def count(name):
        if stats is not None:
            stats.count(name)

    melodies = []
    instruments = set(n.instrument for n in quantized.notes)
    steps_per_bar = int(sequences_lib.steps_per_bar_in_quantized_sequence(quantized))
    for instrument in sorted(instruments):
        search_start = 0
        while True:
            melody = melodies_lib.Melody()
            try:
                melody.from_quantized_sequence(
                    quantized, instrument=instrument, search_start_step=search_start,
                    gap_bars=gap_bars, ignore_polyphonic_notes=ignore_polyphonic_notes)
            except melodies_lib.PolyphonicMelodyError:
                count("polyphonic_tracks_discarded")
                break
            search_start = melody.end_step + (0 - melody.end_step) % steps_per_bar
            if not melody:
                break
            if len(melody) < melody.steps_per_bar * min_bars:
                count("melodies_discarded_too_short")
                continue
            if max_steps_truncate is not None and len(melody) > max_steps_truncate:
                melody.set_length(max_steps_truncate)
                count("melodies_truncated")
            if np.count_nonzero(melody.get_note_histogram()) < min_unique_pitches:
                count("melodies_discarded_too_few_pitches")
                continue
            melodies.append(melody)
    return melodies


def melody_pipeline(sequence, *, steps_per_quarter=4, min_note=48, max_note=84,
                    transpose_to_key=0, lookback=False, encoding=None, stats=None,
                    **extract_kwargs):
    """NoteSequence -> list of (inputs, labels) arrays, as Magenta's melody_rnn built them.

    `encoding` is the melody_rnn config's: "one_hot" (basic_rnn, mono_rnn), "lookback"
    (lookback_rnn) or "key" (attention_rnn: KeyMelodyEncoderDecoder); with none given,
    `lookback` picks between the first two. Each uses Magenta's defaults, as its config did.
    """
    encoding = encoding or ("lookback" if lookback else "one_hot")
    one_hot = melody_encoder_decoder.MelodyOneHotEncoding(min_note, max_note)
    if encoding == "lookback":
        codec = encoder_decoder.LookbackEventSequenceEncoderDecoder(one_hot)
    elif encoding == "key":
        codec = melody_encoder_decoder.KeyMelodyEncoderDecoder(min_note, max_note)
    elif encoding == "one_hot":
        codec = encoder_decoder.OneHotEventSequenceEncoderDecoder(one_hot)
    else:
        raise ValueError(f"encoding must be one_hot, lookback or key, got {encoding!r}")
    examples = []
    for quantized in _quantized_parts(sequence, steps_per_quarter, stats):
        try:
            melodies = extract_melodies(quantized, stats=stats, **extract_kwargs)
        except note_seq.NonIntegerStepsPerBarError:
            continue
        for melody in melodies:
            melody.squash(min_note, max_note, transpose_to_key)
            examples.append(_example(codec, list(melody)))
    return examples


def extract_drum_tracks(quantized, *, min_bars=7, max_steps_truncate=None, gap_bars=1.0):
    """Magenta's drum_pipelines.extract_drum_tracks (a loop over
    note_seq.DrumTrack.from_quantized_sequence), restated because magenta itself is not
    installable; min_bars, truncation and gaps as drums_rnn used them."""
    steps_per_bar = int(sequences_lib.steps_per_bar_in_quantized_sequence(quantized))
    tracks, start = [], 0
    while True:
        track = note_seq.DrumTrack()
        track.from_quantized_sequence(quantized, search_start_step=start, gap_bars=gap_bars)
        start = track.end_step + (start - track.end_step) % steps_per_bar
        if not track:
            return tracks
        if len(track) < track.steps_per_bar * min_bars:
            continue
        if max_steps_truncate is not None and len(track) > max_steps_truncate:
            track.set_length(max_steps_truncate)
        tracks.append(track)


def drums_pipeline(sequence, *, steps_per_quarter=4, binary_counter_bits=6, **extract_kwargs):
    """NoteSequence -> list of (inputs, labels), as Magenta's drums_rnn built drum_kit's:
    split on time changes, quantize, extract drum tracks, LookbackEventSequenceEncoderDecoder
    over MultiDrumOneHotEncoding (no lookbacks, binary counters)."""
    codec = encoder_decoder.LookbackEventSequenceEncoderDecoder(
        note_seq.MultiDrumOneHotEncoding(), lookback_distances=[],
        binary_counter_bits=binary_counter_bits)
    examples = []
    for quantized in _quantized_parts(sequence, steps_per_quarter):
        try:
            tracks = extract_drum_tracks(quantized, **extract_kwargs)
        except note_seq.NonIntegerStepsPerBarError:
            continue
        examples.extend(_example(codec, list(track)) for track in tracks)
    return examples


def _quantized_parts(sequence, steps_per_quarter, stats=None):
    """Magenta's TimeChangeSplitter + Quantizer: the parts that quantize."""
    for part in sequences_lib.split_note_sequence_on_time_changes(sequence):
        try:
            yield sequences_lib.quantize_note_sequence(part, steps_per_quarter)
        except (sequences_lib.MultipleTimeSignatureError, sequences_lib.MultipleTempoError,
                sequences_lib.BadTimeSignatureError, sequences_lib.NegativeTimeError):
            if stats is not None:
                stats.count("sequences_discarded_quantize")


def _example(codec, events):
    """(inputs, labels) of one event sequence through a note_seq encoder-decoder."""
    inputs = np.array([codec.events_to_input(events, i) for i in range(len(events) - 1)],
                      np.float32)
    labels = np.array([codec.events_to_label(events, i) for i in range(1, len(events))],
                      np.int64)
    return inputs, labels
