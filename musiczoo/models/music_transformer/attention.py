"""Relative global self-attention for the Music Transformer (Huang et al. 2018).

Every head has learned embeddings E [M, head_dim] for the relative distances -(M-1)..0
(M = max_relative_position; farther keys get no relative term, as in tensor2tensor).
The relative logits S[i, j] = q_i . E[distance j - i] are computed two ways:

- `skewed_relative_logits`: Q E^T ([L, L] per head) then the paper's "skewing" (pad one
  column on the left, reshape to [L + 1, L], drop the first row), so no [L, L, D]
  tensor ever exists: relative-position memory O(L * D) instead of O(L^2 * D).
- `naive_relative_logits`: Shaw et al.'s formulation, materialising the [L, L, D]
  embedding of every (query, key) pair; kept as the reference the tests and the
  memory benchmark compare against.

Both give the same values at every causal position (j <= i); positions j > i are
masked by the caller.
"""
import keras
import tensorflow as tf


def embeddings_for_length(embeddings, length):
    """[H, M, D] embeddings (distance -(M-1)..0) -> [H, L, D] for distances -(L-1)..0:
    the last L rows, or zeros on the far side when L > M."""
    m = tf.shape(embeddings)[1]
    pad = tf.maximum(length - m, 0)
    start = tf.maximum(m - length, 0)
    return tf.pad(embeddings[:, start:], [[0, 0], [pad, 0], [0, 0]])


def skewed_relative_logits(q, embeddings):
    """q [B, H, L, D], embeddings [H, M, D] -> [B, H, L, L] (valid where j <= i)."""
    shape = tf.shape(q)
    batch, heads, length = shape[0], shape[1], shape[2]
    rel = embeddings_for_length(embeddings, length)                   # [H, L, D]
    # Q E^T has column m = distance m - (L - 1). The skew pads it with a zero column on
    # the left, reads it as [L + 1, L] and drops the first row: row i, column j is then
    # distance j - i. A zero row in front of E gives the padded product directly (one
    # [B, H, L, L] buffer fewer than padding the product), and a plain broadcasting
    # matmul avoids einsum's transposes: the layer's peak was 156 -> 125 MiB at L=1024.
    rel = tf.pad(rel, [[0, 0], [1, 0], [0, 0]])[None]                # [1, H, L + 1, D]
    return tf.reshape(tf.matmul(q, rel, transpose_b=True),
                      [batch, heads, length + 1, length])[:, :, 1:, :]


def naive_relative_logits(q, embeddings):
    """The same logits through the explicit [H, L, L, D] relative embedding tensor."""
    length = tf.shape(q)[2]
    rel = embeddings_for_length(embeddings, length)                   # [H, L, D]
    i = tf.range(length)[:, None]
    j = tf.range(length)[None, :]
    index = tf.clip_by_value(j - i + length - 1, 0, length - 1)      # j > i: masked anyway
    per_pair = tf.gather(rel, index, axis=1)                          # [H, L, L, D]
    return tf.einsum("bhid,hijd->bhij", q, per_pair)


class RelativeSelfAttention(keras.layers.Layer):
    """Causal multi-head self-attention with relative position logits.

    x [B, L, d_model] -> [B, L, d_model]. `relative="skewed"` (default) or "naive" picks
    the implementation (same weights, same result)."""

    def __init__(self, d_model, num_heads, max_relative_position, dropout_rate=0.0,
                 relative="skewed", **kwargs):
        super().__init__(**kwargs)
        if d_model % num_heads:
            raise ValueError(f"num_heads ({num_heads}) must divide the width d_model "
                             f"({d_model}): each head takes d_model / num_heads dims")
        if relative not in ("skewed", "naive"):
            raise ValueError(f"relative must be 'skewed' or 'naive', got {relative!r}")
        self.d_model, self.num_heads = int(d_model), int(num_heads)
        self.head_dim = self.d_model // self.num_heads
        self.max_relative_position = int(max_relative_position)
        self.dropout_rate, self.relative = float(dropout_rate), relative
        self.qkv = keras.layers.Dense(3 * self.d_model, use_bias=False, name="qkv")
        self.output_dense = keras.layers.Dense(self.d_model, use_bias=False, name="output")
        self.dropout = keras.layers.Dropout(self.dropout_rate)

    def build(self, input_shape):
        self.qkv.build(input_shape)
        self.output_dense.build(input_shape[:-1] + (self.d_model,))
        self.relative_embeddings = self.add_weight(
            (self.num_heads, self.max_relative_position, self.head_dim),
            initializer=keras.initializers.RandomNormal(stddev=self.head_dim ** -0.5),
            name="relative_embeddings")
        super().build(input_shape)

    def split_heads(self, x):
        shape = tf.shape(x)
        x = tf.reshape(x, [shape[0], shape[1], self.num_heads, self.head_dim])
        return tf.transpose(x, [0, 2, 1, 3])

    def call(self, x, training=False):
        q, k, v = tf.split(self.qkv(x), 3, axis=-1)
        # Scaling q (L x D) instead of the logits (L x L) saves one [B, H, L, L] tensor.
        q = self.split_heads(q) * self.head_dim ** -0.5
        k, v = self.split_heads(k), self.split_heads(v)
        relative = (skewed_relative_logits if self.relative == "skewed"
                    else naive_relative_logits)
        length = tf.shape(x)[1]
        causal = tf.linalg.band_part(tf.ones([length, length], tf.bool), -1, 0)
        logits = tf.where(causal, relative(q, self.relative_embeddings)
                          + tf.matmul(q, k, transpose_b=True), tf.constant(-1e9, q.dtype))
        weights = self.dropout(tf.nn.softmax(logits, axis=-1), training=training)
        del logits
        out = tf.transpose(tf.matmul(weights, v), [0, 2, 1, 3])
        shape = tf.shape(x)
        return self.output_dense(tf.reshape(out, [shape[0], shape[1], self.d_model]))

    def call_cached(self, x, cache_k, cache_v):
        """One new position: x [B, 1, d_model] attends to the cached keys/values
        [B, H, t, Dh] plus its own. Returns (out [B, 1, d_model], keys, values) with the
        caches one position longer. Same result as `call` at that position."""
        q, k, v = tf.split(self.qkv(x), 3, axis=-1)
        q = self.split_heads(q) * self.head_dim ** -0.5            # [B, H, 1, Dh]
        keys = tf.concat([cache_k, self.split_heads(k)], axis=2)    # [B, H, t + 1, Dh]
        values = tf.concat([cache_v, self.split_heads(v)], axis=2)
        # The query sits at the newest position: key j is at distance j - t, which is
        # row j of the embeddings for length t + 1. Nothing to mask.
        rel = embeddings_for_length(self.relative_embeddings, tf.shape(keys)[2])
        logits = tf.matmul(q, keys, transpose_b=True) + tf.einsum("bhqd,hmd->bhqm", q, rel)
        out = tf.matmul(tf.nn.softmax(logits, axis=-1), values)    # [B, H, 1, Dh]
        out = tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [tf.shape(x)[0], 1, self.d_model])
        return self.output_dense(out), keys, values

    def get_config(self):
        config = super().get_config()
        config.update(d_model=self.d_model, num_heads=self.num_heads,
                      max_relative_position=self.max_relative_position,
                      dropout_rate=self.dropout_rate, relative=self.relative)
        return config
