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
            "cat-mel_2bar_small", "cat-drums_2bar_small", "chorale_transformer"} <= names


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


def test_shipped_chorale_transformer_sings_in_four_ordered_voices():
    from musiczoo.pipelines.extract import chorales, notearrays
    from musiczoo.pipelines.readers import corpora
    model = musiczoo.load_bundle("chorale_transformer")
    ordered = 0
    for sequence in model.generate(4, 64, seed=0, temperature=0.9):
        grid = chorales.voice_grid(notearrays.from_note_sequence(sequence),
                                   order=chorales.named_voice_order(sequence))
        # A sample may close early (its remaining steps all rests: grid ends there).
        assert grid.shape[1] == 4 and 16 <= len(grid) <= 64 and (grid >= 0).mean() > 0.8
        means = [grid[grid[:, v] >= 0, v].mean() for v in range(4)]
        ordered += means == sorted(means, reverse=True)
    assert ordered >= 3                 # soprano above alto above tenor above bass
    # A held-out chorale (BUILD.md lists the split) costs well under a uniform guess.
    held_out = next(c for c in corpora.bach_chorales() if c.filename.endswith("bwv66.6.mxl"))
    tokens = model.codec.tokens(chorales.voice_grid(notearrays.from_note_sequence(held_out)))
    import tensorflow as tf
    log_probs = tf.nn.log_softmax(model.model(tf.constant(tokens[None, :-1]))).numpy()[0]
    nll = -log_probs[np.arange(len(tokens) - 1), tokens[1:]].mean()
    assert nll < 1.0 < np.log(model.codec.num_classes)
