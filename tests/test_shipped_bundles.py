"""The pretrained bundles in bundles/: valid, small, documented, and they make music."""
import hashlib
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


# Held-out chorale-melody windows of cat-mel_2bar_small that equal a folk tune's window on
# the training side (first 12 hex digits of the sha1 of their int32 class ids). Building the
# folk_melodies cache takes minutes, so they were found once (2026-12-01) and are checked
# again whenever the cache is there.
FOLK_TRAINING_DUPLICATES = frozenset({
    "0dd6d64d898f", "0f0985a4ad9f", "3ee5697a76b2", "4c2c9e286347", "5a0af7f0b404",
    "61e30aecb689", "736ad57b5d03", "73e9a32e4489", "75469f5dff35", "88f30e1c0140",
    "9c0a89c3564a"})


def _digest(ids):
    return hashlib.sha1(np.asarray(ids, np.int32).tobytes()).hexdigest()[:12]


def _recorded_split(model, sequences):
    """(held-out, training) sequences by the split the bundle recorded (create_dataset's
    hash of each sequence id, at the bundle's eval ratio)."""
    from musiczoo.pipelines.extract import transforms
    ratio = model.metadata["dataset"]["eval_ratio"]
    sides = {True: [], False: []}
    for sequence in sequences:
        sides[transforms.is_eval(sequence.id or sequence.filename, ratio)].append(sequence)
    return sides[True], sides[False]


def _windows(vae, sequences):
    """[(piece index, int32 ids, events)] as create_dataset cut them."""
    from musiczoo.pipelines.extract import notearrays
    from musiczoo.pipelines.stats import Stats
    found = vae.config.extractor().extract(
        [notearrays.from_note_sequence(s) for s in sequences], Stats())
    return [(piece, np.asarray(vae.codec.events_to_ids(events), np.int32), events)
            for piece, events in found]


def test_shipped_melody_vae_reconstructs_and_interpolates():
    from musiczoo.pipelines.readers import corpora, folk
    vae = musiczoo.load_bundle("cat-mel_2bar_small")
    assert vae.metadata["dataset"]["input_spec"] == "bach_soprano,folk_melodies"
    # Chorale melodies on the held-out side of the bundle's own split, minus every window
    # that equals a training window (the chorales' and the folk tunes').
    held, train = _recorded_split(vae, corpora.bach_soprano())
    held_windows = _windows(vae, held)
    seen = {ids.tobytes() for _, ids, _ in _windows(vae, train)}
    folk_duplicates = FOLK_TRAINING_DUPLICATES
    if folk.folk_cache_path().exists():
        _, folk_train = _recorded_split(vae, folk.folk_melodies())
        folk = {ids.tobytes() for _, ids, _ in _windows(vae, folk_train)}
        folk_duplicates = {_digest(ids) for _, ids, _ in held_windows
                           if ids.tobytes() in folk and ids.tobytes() not in seen}
        assert folk_duplicates == FOLK_TRAINING_DUPLICATES
    unseen = [(piece, ids, events) for piece, ids, events in held_windows
              if ids.tobytes() not in seen and _digest(ids) not in folk_duplicates]
    assert len(held) == 50 and len(unseen) >= 300        # 345 of the 405 held-out windows
    originals = np.stack([ids for _, ids, _ in unseen])
    _, mu, _ = vae.encode([events for _, _, events in unseen])
    rebuilt = vae.decode_ids(mu, top_k=1, seed=0)
    # Greedy reconstruction, z = posterior mean: 0.994 on these windows (2026-12-01);
    # benchmarks/vae_eval.py gives 0.934 over all 3,606 unseen held-out windows.
    assert (rebuilt == originals).mean() > 0.95
    first = unseen[0]
    other = next(w for w in unseen if w[0] != first[0] and (w[1] != first[1]).mean() > 0.3)
    path = vae.decode_ids(vae.interpolation_path(first[2], other[2], 5), top_k=1, seed=0)
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


def test_shipped_chorale_transformer_scores_held_out_chorales_like_build_md():
    import tensorflow as tf

    from musiczoo.pipelines.extract import notearrays
    from musiczoo.pipelines.readers import corpora
    from musiczoo.pipelines.stats import Stats
    model = musiczoo.load_bundle("chorale_transformer")
    assert model.metadata["dataset"]["input_spec"] == "bach_chorales"
    held, train = _recorded_split(model, corpora.bach_chorales())
    assert len(held) == 41 and len(train) == 363          # BUILD.md lists the 41
    extractor = model.config.data_spec().extractor

    def token_lists(sequences):
        grids = extractor.extract([notearrays.from_note_sequence(s) for s in sequences], Stats())
        return [model.codec.tokens(grid) for _, grid in grids]

    # A baseline fitted here on the training chorales: each token given the same voice's
    # token one step earlier (add-one smoothed). Held notes repeat, so it is far below a
    # uniform guess (log 62 = 4.1 nats): about 0.95 nats per token on these chorales.
    size = model.codec.num_classes
    counts = np.ones((size, size))
    for tokens in token_lists(train):
        np.add.at(counts, (tokens[1:-4], tokens[5:]), 1)
    previous_step = counts / counts.sum(1, keepdims=True)
    # The model, scored as training's eval scores it: consecutive crops of max_length
    # tokens, each opened by the start symbol; the first 4 held-out chorales (none of them
    # a near-copy of a training chorale; bwv20.7 is, see benchmarks/chorale_nll.py).
    nll = baseline = count = 0.0
    length = model.config.max_length
    for tokens in token_lists(held[:4]):
        inputs, labels = tokens[:-1], tokens[1:]
        for begin in range(0, len(labels), length):
            end = min(begin + length, len(labels))
            window = np.concatenate([[model.codec.start_id], inputs[begin + 1:end]])
            log_probs = tf.nn.log_softmax(model.model(tf.constant(window[None]))[0]).numpy()
            nll -= log_probs[np.arange(end - begin), labels[begin:end]].sum()
        baseline -= np.log(previous_step[labels[:-4], labels[4:]]).sum()
        count += len(labels)
    nll /= count
    baseline /= count - 4 * 4
    # Recorded held-out loss over all 41 chorales (BUILD.md: 0.462 in 512-token chunks).
    recorded = model.metadata["eval_metrics"]["loss"]
    assert abs(recorded - 0.462) < 0.001
    assert nll < recorded + 0.1 and nll < 0.7 * baseline


@pytest.mark.parametrize("path", BUNDLES, ids=[p.stem for p in BUNDLES])
def test_every_bundle_has_a_model_card_with_its_data_licence(path):
    from musiczoo import bundle_check
    text = bundle_check.card(path.stem)
    meta = bundle.read_header(path).metadata
    corpora = bundle_check.corpora_of(meta)
    assert corpora, "the bundle does not record what it was trained on"
    for corpus in corpora:
        assert f"  - {corpus}: " in text
    if {"bach_soprano", "bach_chorales", "folk_melodies"} & set(corpora):
        assert "non-commercial" in text   # a user must see this before shipping a product
    if "mma_grooves" in corpora:
        assert "GPL" in text
    assert "held-out metrics" in text and "how it was built" in text
    assert f"bundles/{path.name}" in text or "musiczoo_train" in text
