"""Query-block relative attention (relative="block") equals the skewed and naive forms:
outputs and gradients, in a layer, a decoder network and the cached sampling step."""
import numpy as np
import pytest
import tensorflow as tf

from musiczoo.models.music_transformer import attention
from musiczoo.models.music_transformer.configs import MusicTransformerConfig
from musiczoo.models.music_transformer.network import MusicTransformerNetwork


def layers_sharing_weights(max_relative, block_size, width=16, heads=4, length=3):
    made = {impl: attention.RelativeSelfAttention(width, heads, max_relative, relative=impl,
                                                  block_size=block_size, name=impl)
            for impl in attention.IMPLEMENTATIONS}
    probe = np.zeros((1, length, width), np.float32)
    for layer in made.values():
        layer(probe)
    weights = made["skewed"].get_weights()
    for layer in made.values():
        layer.set_weights(weights)
    return made


def output_and_gradients(layer, x):
    x = tf.constant(x)
    cotangent = tf.sin(tf.reshape(tf.range(tf.size(x), dtype=tf.float32), x.shape))
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(layer(x) * cotangent)
    grads = tape.gradient(loss, [x, layer.relative_embeddings, layer.qkv.kernel,
                                 layer.output_dense.kernel])
    return layer(x).numpy(), [g.numpy() for g in grads]


# (batch, length, max_relative_position, block_size): a multiple of the block, not a
# multiple, shorter than one block, longer than the relative range, one-row blocks.
CASES = [(2, 12, 20, 4), (2, 10, 20, 4), (1, 3, 8, 4), (3, 11, 4, 4), (2, 9, 5, 1)]


@pytest.mark.parametrize("batch,length,max_relative,block_size", CASES)
def test_block_equals_skewed_and_naive_with_gradients(batch, length, max_relative, block_size):
    made = layers_sharing_weights(max_relative, block_size)
    x = np.random.default_rng(length).standard_normal((batch, length, 16)).astype(np.float32)
    results = {impl: output_and_gradients(layer, x) for impl, layer in made.items()}
    out, grads = results["skewed"]
    for impl in ("block", "naive"):
        np.testing.assert_allclose(results[impl][0], out, atol=1e-5)
        # d/dx, then relative embeddings, qkv kernel, output kernel: all equal.
        assert len(results[impl][1]) == len(grads) == 4
        for got, want in zip(results[impl][1], grads):
            np.testing.assert_allclose(got, want, atol=1e-5)
    # Relative embeddings the sequence is too short to reach get no gradient.
    unused = max_relative - length
    if unused > 0:
        assert not results["block"][1][1][:, :unused].any()


def test_block_skew_is_the_full_skew_restricted_to_the_block():
    rng = np.random.default_rng(1)
    q = rng.standard_normal((1, 2, 7, 3)).astype(np.float32)
    e = rng.standard_normal((2, 7, 3)).astype(np.float32)
    full = attention.skewed_relative_logits(q, e).numpy()
    rel = attention.embeddings_for_length(e, 8).numpy()                 # distances -7..0
    for start, end in [(0, 3), (3, 6), (6, 7)]:
        product = tf.matmul(q[:, :, start:end], rel[None, :, 7 - end:], transpose_b=True)
        block = attention.block_skew(product, start).numpy()
        causal = np.arange(end)[None, :] <= np.arange(start, end)[:, None]
        np.testing.assert_allclose(block[..., causal], full[:, :, start:end, :end][..., causal],
                                   atol=1e-5)


def test_block_in_a_traced_function_with_open_length():
    made = layers_sharing_weights(6, 4)
    calls = {impl: tf.function(lambda x, layer=layer: layer(x),
                               input_signature=[tf.TensorSpec([2, None, 16], tf.float32)])
             for impl, layer in made.items()}
    for length in (3, 9, 13):
        x = np.random.default_rng(length).standard_normal((2, length, 16)).astype(np.float32)
        np.testing.assert_allclose(calls["block"](x).numpy(), calls["skewed"](x).numpy(),
                                   atol=1e-5)
    assert calls["block"].experimental_get_tracing_count() == 1


def test_block_dropout_trains_and_is_off_at_inference():
    layer = attention.RelativeSelfAttention(16, 4, 8, dropout_rate=0.5, block_size=3)
    x = tf.constant(np.random.default_rng(2).standard_normal((2, 7, 16)).astype(np.float32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x, training=True) ** 2)
    grads = tape.gradient(loss, layer.trainable_weights)
    assert all(np.isfinite(g.numpy()).all() for g in grads)
    assert not np.allclose(layer(x, training=True).numpy(), layer(x).numpy())
    np.testing.assert_array_equal(layer(x).numpy(), layer(x).numpy())


def test_config_keeps_block_size_and_rejects_bad_values():
    layer = attention.RelativeSelfAttention(16, 4, 8, block_size=32)
    config = layer.get_config()
    assert config["relative"] == "block" and config["block_size"] == 32
    assert attention.RelativeSelfAttention.from_config(config).block_size == 32
    assert attention.RelativeSelfAttention(16, 4, 8).block_size == attention.BLOCK_SIZE
    with pytest.raises(ValueError, match="relative must be one of block, skewed, naive"):
        attention.RelativeSelfAttention(16, 4, 8, relative="flash")
    with pytest.raises(ValueError, match="block_size must be >= 1"):
        attention.RelativeSelfAttention(16, 4, 8, block_size=0)


def tiny_networks(block_size=3):
    config = MusicTransformerConfig(name="tiny", num_layers=2, d_model=16, num_heads=4,
                                    ff_size=32, max_relative_position=6, dropout_rate=0.0)
    nets = {impl: MusicTransformerNetwork(config, 11, relative=impl)
            for impl in ("block", "skewed")}
    for layer in nets["block"].decoder_layers:
        layer.attention.block_size = block_size
    nets["block"].set_weights(nets["skewed"].get_weights())
    return nets


def test_network_block_equals_skewed_and_is_the_default():
    nets = tiny_networks()
    assert all(layer.attention.relative == "block" for layer in
               MusicTransformerNetwork(nets["skewed"].config_, 11).decoder_layers)
    # Same variables (names and shapes) whichever implementation: bundles load as before.
    def variables(net):                     # paths below the (uniquified) model name
        return [(w.path.split("/", 1)[1], tuple(w.shape)) for w in net.weights]
    assert variables(nets["block"]) == variables(nets["skewed"])
    ids = tf.constant(np.random.default_rng(3).integers(0, 12, (2, 10)), tf.int32)
    np.testing.assert_allclose(nets["block"](ids).numpy(), nets["skewed"](ids).numpy(),
                               atol=1e-5)


def test_cached_step_equals_block_forward_at_every_position():
    net = tiny_networks()["block"]
    ids = tf.constant(np.random.default_rng(4).integers(0, 12, (2, 9)), tf.int32)
    full = net(ids).numpy()
    state = net.initial_state(2)
    for t in range(ids.shape[1]):
        logits, state = net.step(ids[:, t:t + 1], state)
        np.testing.assert_allclose(logits.numpy(), full[:, t], atol=1e-4)
