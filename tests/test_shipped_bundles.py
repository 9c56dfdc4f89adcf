"""The pretrained bundles in bundles/: valid, small, documented, and they make music."""
import pathlib

import numpy as np
import pytest

import musiczoo
from musiczoo import bundle, registry

BUNDLES = sorted((pathlib.Path(__file__).resolve().parent.parent / "bundles").glob("*.mzb"))
BUILD = (pathlib.Path(__file__).resolve().parent.parent / "BUILD.md").read_text()


# The issues' size budgets, per family.
MAX_MB = {"melody_rnn": 20, "drums_rnn": 20, "music_vae": 30, "music_transformer": 40}


def test_bundles_are_shipped():
    names = {path.stem for path in BUNDLES}
    assert {"basic_rnn", "lookback_rnn", "attention_rnn", "drum_kit_rnn",
            "cat-mel_2bar_small", "cat-drums_2bar_small"} <= names


@pytest.mark.parametrize("path", BUNDLES, ids=[p.stem for p in BUNDLES])
def test_bundle_is_valid_small_and_documented(path):
    contents = bundle.read_bundle(path, registry.families())
    assert path.stat().st_size < MAX_MB[contents.family] * 2 ** 20
    meta = contents.metadata
    assert meta["training_data"] and meta["steps"] > 0
    assert {"loss", "accuracy"} <= set(meta["eval_metrics"])
    assert f"bundles/{path.name}" in BUILD          # BUILD.md says how to rebuild it


@pytest.mark.parametrize("path", BUNDLES, ids=[p.stem for p in BUNDLES])
def test_bundle_generates(path):
    model = musiczoo.load_bundle(path.stem)
    steps = None if model.family == "music_vae" else 64   # a VAE makes its own window
    sequences = model.generate(2, steps, seed=0)
    assert all(len(s.notes) > 4 for s in sequences)


def test_shipped_melody_vae_reconstructs_and_interpolates(chorale_paths):
    from musiczoo.models.music_vae.inputs import InputError, find_windows
    vae = musiczoo.load_bundle("cat-mel_2bar_small")
    usable = []
    for path in chorale_paths[40:80]:
        try:
            find_windows(path, vae.config)
            usable.append(path)
        except InputError:                                 # 3/4 chorales
            continue
    usable = usable[:8]
    assert len(usable) == 8
    originals = vae.window_ids(usable)
    _, mu, _ = vae.encode(usable)
    rebuilt = vae.decode_ids(mu, top_k=1, seed=0)
    assert (rebuilt == originals).mean() > 0.85          # held-out figure: 0.94
    path = vae.decode_ids(vae.interpolation_path(usable[0], usable[1], 5), top_k=1, seed=0)
    distance = (path != path[:1]).mean(1)
    assert distance[0] == 0 and distance[-1] > 0.1
    assert (np.diff(distance) >= -0.05).all()            # rises (nearly) monotonically
