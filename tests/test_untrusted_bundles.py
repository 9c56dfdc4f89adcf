"""A bundle with a valid checksum is still untrusted: its header is checked against the
schema (config fields and types, codec arguments, weight dtypes and spans, finite values)
and refused with the reason, never a traceback from deep inside Keras or the sampler."""
import json

import numpy as np
import pytest

import musiczoo
from musiczoo import bundle
from musiczoo.bundle import BundleError
from tests.test_bundle import _edit_header
from tests.test_cli import run_script


def rewrite(tmp_path, edit_config=None, edit_codec=None, edit_weights=None, name=None):
    """The shipped basic_rnn bundle, edited, written with a freshly computed checksum."""
    contents = bundle.read_bundle(musiczoo.bundles.resolve_bundle("basic_rnn"))
    config, codec = json.loads(json.dumps(contents.config)), json.loads(json.dumps(contents.codec))
    weights = [(n, np.array(w)) for n, w in contents.weights]
    if edit_config:
        edit_config(config)
    if edit_codec:
        edit_codec(codec)
    if edit_weights:
        edit_weights(weights)
    return bundle.write_bundle(tmp_path / (name or "edited.mzb"), family=contents.family,
                               config_name=contents.config_name, config=config, codec=codec,
                               weights=weights, metadata=contents.metadata)


def refused(path, reason, words):
    with pytest.raises(BundleError) as error:
        musiczoo.load_bundle(str(path))
    assert error.value.reason == reason, str(error.value)
    assert words in str(error.value) and str(path) in str(error.value)
    return str(error.value)


@pytest.mark.parametrize("edit_config, edit_codec, words", [
    (None, lambda c: c.update(surprise=1), "unexpected keyword argument 'surprise'"),
    (None, lambda c: c.pop("class"), "no 'class'"),
    (None, lambda c: c.update({"class": "os.system"}), "unknown codec 'os.system'"),
    (None, lambda c: c.update(min_note="48"), "codec"),
    (lambda c: c.pop("name"), None, "required field(s) ['name']"),
    (lambda c: c.update(layer_sizes="128"), None, "layer_sizes must be tuple"),
    (lambda c: c.update(batch_size="64"), None, "batch_size must be int"),
    (lambda c: c.update(learning_rate=float("nan")), None, "learning_rate must be float"),
    (lambda c: c.update(steps_per_quarter=0), None, "steps_per_quarter must be >= 1"),
    (lambda c: c.update(name="other"), None, "differs from the header's config_name"),
])
def test_a_bad_config_or_codec_is_refused(tmp_path, edit_config, edit_codec, words):
    refused(rewrite(tmp_path, edit_config, edit_codec), "bad_header", words)


def test_nan_weights_are_refused_before_they_reach_the_sampler(tmp_path):
    def poison(weights):
        weights[-1][1][0] = np.nan
    message = refused(rewrite(tmp_path, edit_weights=poison), "bad_weights", "non-finite")
    assert "1 non-finite" in message
    done = run_script("generate", f"--bundle={tmp_path / 'edited.mzb'}",
                      f"--output_dir={tmp_path / 'out'}", "--num_outputs=1")
    assert done.returncode == 1 and "non-finite" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()


def test_weights_of_another_dtype_are_refused(tmp_path):
    def widen(weights):
        weights[0] = (weights[0][0], weights[0][1].astype(np.float64))
    refused(rewrite(tmp_path, edit_weights=widen), "mismatched_weights", "float64")


def test_overlapping_weights_are_refused(tmp_path):
    path = rewrite(tmp_path)

    def overlap(header):
        header["weights"][1]["offset"] = header["weights"][0]["offset"]
    _edit_header(path, overlap)  # checksum recomputed over the forged header
    with pytest.raises(BundleError, match="overlap") as error:
        bundle.read_bundle(path)
    assert error.value.reason == "bad_header"


def test_the_untouched_copy_still_loads(tmp_path):
    model = musiczoo.load_bundle(str(rewrite(tmp_path)))
    assert len(model.generate(1, 16, seed=1)[0].notes) > 0
