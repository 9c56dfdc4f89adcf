"""Bundles of real Keras models with real configs: save, find by name, restore, refuse."""
import numpy as np
import pytest

from musiczoo import bundle, bundles, registry


def tiny_melody_model(config, codec, name):
    import keras
    inputs = keras.Input((None, codec.input_size))
    x = inputs
    for i, size in enumerate(config.layer_sizes):
        x = keras.layers.LSTM(size, return_sequences=True, name=f"{name}_lstm{i}")(x)
    outputs = keras.layers.Dense(codec.num_classes, name=f"{name}_logits")(x)
    return keras.Model(inputs, outputs, name=name)


@pytest.fixture
def saved(tmp_path):
    _, config = registry.find_config("basic_rnn")
    config = registry.apply_hparams(config, "layer_sizes=[16,8]")
    codec = config.codec()
    model = tiny_melody_model(config, codec, "a")
    path = bundles.save_model_bundle(
        tmp_path / "tiny_basic_rnn.mzb", family="melody_rnn", config=config, codec=codec,
        model=model, metadata={"description": "test", "training_data": "none", "steps": 0})
    return path, config, codec, model


def test_round_trip_rebuilds_config_codec_and_predictions(saved):
    path, config, codec, model = saved
    contents = bundle.read_bundle(path, known_families=registry.families())
    rebuilt_config, rebuilt_codec = bundles.model_parts(contents)
    assert rebuilt_config == config and rebuilt_codec == codec
    fresh = tiny_melody_model(rebuilt_config, rebuilt_codec, "a")   # a new, same-named model
    bundles.restore_weights(fresh, contents, path)
    x = np.eye(codec.input_size, dtype=np.float32)[np.random.default_rng(0).integers(0, 38, (2, 20))]
    np.testing.assert_array_equal(model(x).numpy(), fresh(x).numpy())
    assert contents.metadata["versions"]["keras"]


def test_found_by_name_through_the_bundle_path(saved, monkeypatch):
    path, *_ = saved
    monkeypatch.setenv("MUSICZOO_BUNDLES", str(path.parent))
    assert bundles.list_bundles()["tiny_basic_rnn"] == path
    assert bundles.resolve_bundle("tiny_basic_rnn") == path
    with pytest.raises(registry.RegistryError, match="did you mean 'tiny_basic_rnn'"):
        bundles.resolve_bundle("tiny_basic_rn")


def test_weights_are_restored_by_name_not_position(saved):
    path, config, codec, model = saved
    contents = bundle.read_bundle(path)
    assert contents.header_version == 2
    assert [name for name, _ in contents.weights][0] == "a_lstm0/lstm_cell/kernel"
    # The same arrays written in reverse order still land in the right variables.
    reordered = bundle.write_bundle(path.with_name("reordered.mzb"), family=contents.family,
                                    config_name=contents.config_name, config=contents.config,
                                    codec=contents.codec, weights=contents.weights[::-1])
    fresh = tiny_melody_model(config, codec, "a")
    bundles.restore_weights(fresh, bundle.read_bundle(reordered), reordered)
    for a, b in zip(model.weights, fresh.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # Layers named otherwise: refused with both names, nothing assigned.
    other = tiny_melody_model(config, codec, "b")
    before = [w.numpy().copy() for w in other.weights]
    with pytest.raises(bundle.BundleError, match="'b_lstm0/lstm_cell/kernel'.*"
                       "'a_lstm0/lstm_cell/kernel' of the same shape instead"):
        bundles.restore_weights(other, contents, path)
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, other.weights))


def test_mismatched_model_is_refused(saved):
    path, config, codec, _ = saved
    contents = bundle.read_bundle(path)
    other = tiny_melody_model(registry.apply_hparams(config, "layer_sizes=[16,16]"), codec, "a")
    with pytest.raises(bundle.BundleError, match="shape") as error:
        bundles.restore_weights(other, contents, path)
    assert error.value.reason == "mismatched_weights" and str(path) in str(error.value)
    deeper = tiny_melody_model(registry.apply_hparams(config, "layer_sizes=[16,8,8]"), codec, "a")
    with pytest.raises(bundle.BundleError, match="weight arrays"):
        bundles.restore_weights(deeper, contents, path)


def test_damaged_bundle_is_refused_by_load_bundle(saved):
    path, *_ = saved
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(bundle.BundleError) as error:
        bundles.load_bundle(str(path))
    assert error.value.reason == "corrupted"


@pytest.mark.parametrize("name, hparams", [
    ("attention_rnn", "layer_sizes=[8,8]"), ("drum_kit", "layer_sizes=[8]"),
    ("cat-mel_2bar_small", "enc_rnn_size=[8,8],dec_rnn_size=[8],z_size=4"),
    ("hierdec-mel_16bar", "enc_rnn_size=[8],dec_rnn_size=[8],conductor_rnn_size=[8,8],z_size=4"),
    ("chorale_transformer", "num_layers=2,d_model=16,num_heads=2,ff_size=16"),
])
def test_variable_names_do_not_depend_on_what_was_built_before(name, hparams):
    # Auto-named layers (lstm, lstm_1, ...) would give a second model other names, and a
    # restore by name would then refuse its own bundle.
    family, config = registry.find_config(name)
    config = registry.apply_hparams(config, hparams)
    first, second = (family.model_class().from_config(config) for _ in range(2))
    assert list(bundles.variables_by_key(first.model)) == list(
        bundles.variables_by_key(second.model))
