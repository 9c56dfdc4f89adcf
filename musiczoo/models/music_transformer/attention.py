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

`block_attention` (the layer's `relative="block"`, the default) computes the whole
attention in blocks of query rows: block [s, e) needs only keys 0..e-1 (causal) and the
relative embeddings of distances -(e-1)..0, and its relative logits come from the same
skew applied to that block alone (`block_skew`). A `tf.while_loop` runs the blocks one
at a time, so only one block's [B, H, b, e] buffers live at once: peak memory O(L * b)
instead of O(L^2). Its gradient is written by hand (`tf.custom_gradient`, as in
FlashAttention): the forward keeps only the output and each row's log-sum-exp, and the
backward recomputes each block's probabilities, so training memory is O(L * b) too.

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


def block_skew(product, start):
    """The skew of one block of query rows [start, end): `product` [B, H, b, end + 1] is
    q_block E'^T, where E' is the relative embeddings of distances -(end-1)..0 with one
    row in front (any values: the column it gives is only read where j > i). Returns
    [B, H, b, end], row i' = query start + i', column j = key j (valid where j <= i).

    Flattened, row i' column c of the product sits at i' (end + 1) + c, and the logit
    for (i', j) is column c = end - start - i' + j, at i' end + b + j (b = end - start):
    drop the first b values and read the rest as [b, end]. With start = 0 and b = end
    this is the full-square skew of `skewed_relative_logits`."""
    shape = tf.shape(product)
    batch, heads, rows, cols = shape[0], shape[1], shape[2], shape[3]
    flat = tf.reshape(product, [batch, heads, rows * cols])[:, :, rows:]
    return tf.reshape(flat, [batch, heads, rows, cols - 1])


def block_unskew(grad):
    """The transpose of `block_skew` (for the gradient): [B, H, b, end] -> [B, H, b,
    end + 1], zeros where the skew reads nothing."""
    shape = tf.shape(grad)
    batch, heads, rows, cols = shape[0], shape[1], shape[2], shape[3]
    flat = tf.pad(tf.reshape(grad, [batch, heads, rows * cols]), [[0, 0], [0, 0], [rows, 0]])
    return tf.reshape(flat, [batch, heads, rows, cols + 1])


def block_attention(q, k, v, rel, block_size, dropout_rate=0.0, seed=None):
    """Causal relative attention in blocks of `block_size` query rows.

    q, k, v [B, H, L, D] (q already scaled), rel [H, L + 1, D]: the relative embeddings
    of distances -L..0 (`embeddings_for_length(e, L + 1)`; the first row is never used).
    Returns [L, B, H, D] (query-major: the blocks are concatenated along the queries).
    `dropout_rate` > 0 drops attention weights with stateless masks drawn from `seed`
    ([2] int32) and the block index, so the backward pass redraws the same masks."""
    block_size = int(block_size)
    keep = 1.0 - float(dropout_rate)

    @tf.custom_gradient
    def attend(q, k, v, rel):
        shape = tf.shape(q)
        length = shape[2]
        num_blocks = (length + block_size - 1) // block_size

        def probabilities(index):
            """Block `index`: (its bounds, its query rows, the masked logits)."""
            start = index * block_size
            end = tf.minimum(start + block_size, length)
            qb = q[:, :, start:end]
            rel_b = rel[None, :, length - end:]                         # [1, H, end + 1, D]
            logits = (block_skew(tf.matmul(qb, rel_b, transpose_b=True), start)
                      + tf.matmul(qb, k[:, :, :end], transpose_b=True))  # [B, H, b, end]
            rows = tf.range(start, end)[:, None]
            causal = tf.range(end)[None, :] <= rows
            return start, end, qb, rel_b, tf.where(causal, logits, tf.constant(-1e9, q.dtype))

        def dropout_mask(index, like):
            if keep >= 1.0:
                return None
            draw = tf.random.stateless_uniform(tf.shape(like), tf.stack([seed[0], seed[1] + index]),
                                               dtype=like.dtype)
            return tf.cast(draw < keep, like.dtype) / keep

        def forward_block(index, outputs, lses):
            _, end, _, _, logits = probabilities(index)
            top = tf.reduce_max(logits, axis=-1, keepdims=True)
            exp = tf.exp(logits - top)
            total = tf.reduce_sum(exp, axis=-1, keepdims=True)
            weights = exp / total
            mask = dropout_mask(index, weights)
            if mask is not None:
                weights = weights * mask
            out = tf.matmul(weights, v[:, :, :end])                      # [B, H, b, D]
            lse = (top + tf.math.log(total))[..., 0]                     # [B, H, b]
            return (index + 1, outputs.write(index, tf.transpose(out, [2, 0, 1, 3])),
                    lses.write(index, tf.transpose(lse, [2, 0, 1])))

        outputs = tf.TensorArray(q.dtype, size=num_blocks, infer_shape=False)
        lses = tf.TensorArray(q.dtype, size=num_blocks, infer_shape=False)
        _, outputs, lses = tf.while_loop(lambda i, *_: i < num_blocks, forward_block,
                                         (tf.constant(0), outputs, lses))
        out = outputs.concat()                                           # [L, B, H, D]
        lse = tf.transpose(lses.concat(), [1, 2, 0])                     # [B, H, L]

        def grad(d_out):
            d_out = tf.transpose(d_out, [1, 2, 0, 3])                    # [B, H, L, D]

            def backward_block(index, dqs, dk, dv, drel):
                start, end, qb, rel_b, logits = probabilities(index)
                weights = tf.exp(logits - lse[:, :, start:end, None])     # 0 where masked
                d_ob = d_out[:, :, start:end]
                d_weights = tf.matmul(d_ob, v[:, :, :end], transpose_b=True)
                mask = dropout_mask(index, weights)
                dropped = weights
                if mask is not None:
                    dropped, d_weights = weights * mask, d_weights * mask
                d_logits = weights * (d_weights - tf.reduce_sum(weights * d_weights, axis=-1,
                                                                keepdims=True))
                d_product = block_unskew(d_logits)                        # [B, H, b, end + 1]
                dq_b = (tf.matmul(d_logits, k[:, :, :end])
                        + tf.matmul(d_product, rel_b))
                after = [[0, 0], [0, 0], [0, length - end], [0, 0]]
                dk += tf.pad(tf.matmul(d_logits, qb, transpose_a=True), after)
                dv += tf.pad(tf.matmul(dropped, d_ob, transpose_a=True), after)
                drel_b = tf.einsum("bhic,bhid->hcd", d_product, qb)       # [H, end + 1, D]
                drel += tf.pad(drel_b, [[0, 0], [length - end, 0], [0, 0]])
                return (index + 1, dqs.write(index, tf.transpose(dq_b, [2, 0, 1, 3])),
                        dk, dv, drel)

            dqs = tf.TensorArray(q.dtype, size=num_blocks, infer_shape=False)
            _, dqs, dk, dv, drel = tf.while_loop(
                lambda i, *_: i < num_blocks, backward_block,
                (tf.constant(0), dqs, tf.zeros_like(k), tf.zeros_like(v), tf.zeros_like(rel)))
            return tf.transpose(dqs.concat(), [1, 2, 0, 3]), dk, dv, drel

        return out, grad

    return attend(q, k, v, rel)


def naive_relative_logits(q, embeddings):
    """The same logits through the explicit [H, L, L, D] relative embedding tensor."""
    length = tf.shape(q)[2]
    rel = embeddings_for_length(embeddings, length)                   # [H, L, D]
    i = tf.range(length)[:, None]
    j = tf.range(length)[None, :]
    index = tf.clip_by_value(j - i + length - 1, 0, length - 1)      # j > i: masked anyway
    per_pair = tf.gather(rel, index, axis=1)                          # [H, L, L, D]
    return tf.einsum("bhid,hijd->bhij", q, per_pair)


IMPLEMENTATIONS = ("block", "skewed", "naive")
BLOCK_SIZE = 128      # query rows per block: 64-128 trained fastest at L=512 on CPU (BENCHMARKS.md)


class RelativeSelfAttention(keras.layers.Layer):
    """Causal multi-head self-attention with relative position logits.

    x [B, L, d_model] -> [B, L, d_model]. `relative` picks the implementation (same
    weights, same result): "block" (default; `block_attention`, query blocks of
    `block_size` rows), "skewed" (the whole [B, H, L, L] logits through the paper's skew)
    or "naive" (Shaw et al.'s [H, L, L, D] relative embeddings)."""

    def __init__(self, d_model, num_heads, max_relative_position, dropout_rate=0.0,
                 relative="block", block_size=BLOCK_SIZE, **kwargs):
        super().__init__(**kwargs)
        if d_model % num_heads:
            raise ValueError(f"num_heads ({num_heads}) must divide the width d_model "
                             f"({d_model}): each head takes d_model / num_heads dims")
        if relative not in IMPLEMENTATIONS:
            raise ValueError(f"relative must be one of {', '.join(IMPLEMENTATIONS)}, "
                             f"got {relative!r}")
        if int(block_size) < 1:
            raise ValueError(f"block_size must be >= 1, got {block_size}")
        self.block_size = int(block_size)
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
        shape = tf.shape(x)
        if self.relative == "block":
            rate = self.dropout_rate if training else 0.0
            seed = (keras.random.randint([2], 0, 2 ** 31 - 1, seed=self.dropout.seed_generator,
                                         dtype="int32") if rate > 0 else None)
            rel = embeddings_for_length(self.relative_embeddings, shape[1] + 1)
            out = block_attention(q, k, v, rel, self.block_size, rate, seed)  # [L, B, H, Dh]
            out = tf.transpose(out, [1, 0, 2, 3])
            return self.output_dense(tf.reshape(out, [shape[0], shape[1], self.d_model]))
        relative = (skewed_relative_logits if self.relative == "skewed"
                    else naive_relative_logits)
        length = tf.shape(x)[1]
        causal = tf.linalg.band_part(tf.ones([length, length], tf.bool), -1, 0)
        logits = tf.where(causal, relative(q, self.relative_embeddings)
                          + tf.matmul(q, k, transpose_b=True), tf.constant(-1e9, q.dtype))
        weights = self.dropout(tf.nn.softmax(logits, axis=-1), training=training)
        del logits
        out = tf.transpose(tf.matmul(weights, v), [0, 2, 1, 3])
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
                      dropout_rate=self.dropout_rate, relative=self.relative,
                      block_size=self.block_size)
        return config
