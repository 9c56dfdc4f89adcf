"""Configs under Magenta's names, hparams overrides, and the errors users see."""
import dataclasses
import json

import pytest

from musiczoo import registry


def test_magenta_config_names_are_registered():
    names = registry.all_configs()
    for name in ("basic_rnn", "mono_rnn", "lookback_rnn", "attention_rnn", "one_drum", "drum_kit"):
        assert name in names
    assert names["drum_kit"][0] == "drums_rnn"


def test_configs_carry_magentas_meaning():
    _, basic = registry.find_config("basic_rnn")
    assert (basic.min_note, basic.max_note, basic.layer_sizes) == (48, 84, (128, 128))
    assert basic.codec().num_classes == 38
    _, kit = registry.find_config("drum_kit", "drums_rnn")
    assert kit.codec().num_classes == 512 and kit.codec().input_size == 512 + 6
    assert kit.layer_sizes == (256, 256, 256) and kit.attn_length == 32
    _, one = registry.find_config("one_drum")
    assert one.steps_per_quarter == 2 and one.codec().num_classes == 2


def test_hparams_make_new_objects_and_leave_registry_alone():
    _, basic = registry.find_config("basic_rnn")
    changed = registry.apply_hparams(
        basic, "layer_sizes=[64,64],learning_rate=0.01,transpose_to_key=None,dropout_rate=0")
    assert changed.layer_sizes == (64, 64) and changed.learning_rate == 0.01
    assert changed.transpose_to_key is None and changed.dropout_rate == 0.0
    assert registry.find_config("basic_rnn")[1] == basic and basic.layer_sizes == (128, 128)
    with pytest.raises(dataclasses.FrozenInstanceError):
        basic.learning_rate = 1.0


@pytest.mark.parametrize("hparams,message", [
    ("layer_size=3", "did you mean 'layer_sizes'"),
    ("learning_rate=fast", "expected float"),
    ("learning_rate", "expected name=value"),
    ("name=x", "unknown hparam 'name'"),
])
def test_bad_hparams_are_explained(hparams, message):
    _, basic = registry.find_config("basic_rnn")
    with pytest.raises(registry.RegistryError, match=message):
        registry.apply_hparams(basic, hparams)


def test_unknown_names_suggest_the_closest():
    with pytest.raises(registry.RegistryError, match="did you mean 'attention_rnn'"):
        registry.find_config("atention_rnn")
    with pytest.raises(registry.RegistryError, match="has no config 'drum_kit'"):
        registry.find_config("drum_kit", "melody_rnn")
    with pytest.raises(registry.RegistryError, match="unknown model family"):
        registry.get_family("melody")


def test_config_dict_round_trip():
    for family_name, config in registry.all_configs().values():
        values = json.loads(json.dumps(registry.config_to_dict(config)))
        assert registry.config_from_dict(family_name, values) == config
    with pytest.raises(registry.RegistryError, match="unknown to melody_rnn"):
        registry.config_from_dict("melody_rnn", {"name": "x", "bogus": 1})
