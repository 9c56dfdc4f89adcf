"""Music Transformer relative attention: skewing equals Shaw's explicit formulation."""
import numpy as np
import pytest

from musiczoo.models.music_transformer import attention


def explicit_logits(q, embeddings):
    """Loops over (i, j): S[i, j] = q_i . E[distance j - i] (zero beyond M)."""
    batch, heads, length, _ = q.shape
    m = embeddings.shape[1]
    out = np.zeros((batch, heads, length, length))
    for i in range(length):
        for j in range(i + 1):
            distance = i - j
            if distance < m:
                out[:, :, i, j] = np.einsum("bhd,hd->bh", q[:, :, i], embeddings[:, m - 1 - distance])
    return out


@pytest.mark.parametrize("length,max_relative", [(7, 7), (9, 4), (5, 12)])
def test_skewing_equals_naive_and_explicit(length, max_relative):
    rng = np.random.default_rng(length)
    q = rng.standard_normal((2, 3, length, 4)).astype(np.float32)
    e = rng.standard_normal((3, max_relative, 4)).astype(np.float32)
    causal = np.tril(np.ones((length, length), bool))
    skewed = attention.skewed_relative_logits(q, e).numpy()
    naive = attention.naive_relative_logits(q, e).numpy()
    expected = explicit_logits(q, e)
    np.testing.assert_allclose(skewed[..., causal], expected[..., causal], atol=1e-5)
    np.testing.assert_allclose(naive[..., causal], expected[..., causal], atol=1e-5)


def test_layers_agree_and_are_causal():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 10, 16)).astype(np.float32)
    skewed = attention.RelativeSelfAttention(16, 4, 6, name="a")
    naive = attention.RelativeSelfAttention(16, 4, 6, relative="naive", name="b")
    out = skewed(x)
    naive(x)
    naive.set_weights(skewed.get_weights())
    np.testing.assert_allclose(naive(x).numpy(), out.numpy(), atol=1e-5)
    changed = x.copy()
    changed[:, 6:] += 1.0                                   # the future must not leak back
    np.testing.assert_allclose(skewed(changed).numpy()[:, :6], out.numpy()[:, :6], atol=1e-5)
    assert not np.allclose(skewed(changed).numpy()[:, 6:], out.numpy()[:, 6:])


def test_heads_must_divide_the_width():
    with pytest.raises(ValueError, match=r"num_heads \(3\) must divide the width d_model \(16\)"):
        attention.RelativeSelfAttention(16, 3, 8)
    # A width the heads divide: each of the 4 heads takes 16 / 4 = 4 dims, its relative
    # embeddings are [heads, max_relative, head_dim], and the layer keeps the width.
    layer = attention.RelativeSelfAttention(16, 4, 8)
    out = layer(np.zeros((1, 5, 16), np.float32))
    assert layer.head_dim == 4 and tuple(layer.relative_embeddings.shape) == (4, 8, 4)
    assert tuple(out.shape) == (1, 5, 16)
