"""Melody and lookback codecs: round trips, note_seq's numbering, clear errors."""
import numpy as np
import pytest
from note_seq import encoder_decoder, melody_encoder_decoder

from musiczoo.pipelines.codecs.base import codec_from_config
from musiczoo.pipelines.codecs.lookback import LookbackCodec
from musiczoo.pipelines.codecs.melody import MelodyOneHotCodec

MELODY = [-2, 60, -2, 62, -1, -2, 64, 64, -2, -2, 65, -1] * 4


def test_melody_ids_match_note_seq_and_round_trip():
    codec = MelodyOneHotCodec(48, 84)
    ref = melody_encoder_decoder.MelodyOneHotEncoding(48, 84)
    ids = codec.events_to_ids(MELODY)
    assert ids.tolist() == [ref.encode_event(e) for e in MELODY]
    assert codec.ids_to_events(ids).tolist() == MELODY
    assert codec.num_classes == ref.num_classes == 38


@pytest.mark.parametrize("distances,bits", [((16, 32), 5), ((4,), 3), ((), 6)])
def test_lookback_matches_note_seq(distances, bits):
    one_hot = melody_encoder_decoder.MelodyOneHotEncoding(48, 84)
    ref = encoder_decoder.LookbackEventSequenceEncoderDecoder(one_hot, list(distances), bits)
    codec = LookbackCodec(MelodyOneHotCodec(48, 84), distances, bits)
    events = MELODY * 3
    inputs, labels = codec.encode(np.array(events))
    ref_inputs = np.array([ref.events_to_input(events, i) for i in range(len(events) - 1)])
    ref_labels = [ref.events_to_label(events, i) for i in range(1, len(events))]
    np.testing.assert_array_equal(inputs, ref_inputs)
    assert labels.tolist() == ref_labels
    assert (codec.input_size, codec.num_classes) == (ref.input_size, ref.num_classes)


def test_lookback_resolve_label_follows_history():
    codec = LookbackCodec(MelodyOneHotCodec(48, 84), (2,), 1)
    history = codec.events_to_ids([60, 62, 64])
    repeat = codec.base.num_classes  # "repeat the event 2 steps back"
    assert codec.resolve_label(repeat, history) == history[-2]
    assert codec.resolve_label(repeat, history[:1]) == codec.default_id
    assert codec.resolve_label(5, history) == 5


@pytest.mark.parametrize("codec", [MelodyOneHotCodec(0, 128),
                                   LookbackCodec(MelodyOneHotCodec(48, 84))])
def test_config_round_trip(codec):
    rebuilt = codec_from_config(codec.get_config())
    assert rebuilt == codec and rebuilt.get_config() == codec.get_config()


def test_out_of_range_events_are_named():
    codec = MelodyOneHotCodec(48, 84)
    with pytest.raises(ValueError, match="event 90 is outside"):
        codec.events_to_ids([60, 90])
    with pytest.raises(ValueError, match="class ids"):
        codec.ids_to_events([0, 38])
    with pytest.raises(ValueError, match="unknown codec"):
        codec_from_config({"class": "NoSuchCodec"})


def test_encode_batch_equals_encode_one_by_one():
    codec = MelodyOneHotCodec(48, 84)
    melodies = [np.array(MELODY[:n]) for n in (2, 17, 48)]
    for (a_in, a_lab), (b_in, b_lab) in zip(codec.encode_batch(melodies),
                                            [codec.encode(m) for m in melodies]):
        np.testing.assert_array_equal(a_in, b_in)
        np.testing.assert_array_equal(a_lab, b_lab)
    assert codec.encode_batch([]) == []
