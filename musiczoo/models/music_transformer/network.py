"""The Music Transformer network: token embedding, pre-norm decoder layers with relative
self-attention and a ReLU feed-forward block, final layer norm, class logits.

`call` scores whole sequences (training, evaluation); `step` runs one new token against
the per-layer key/value caches (sampling), and `uncached_step` recomputes the whole
prefix instead (the reference the tests and the benchmark compare the cache with).
"""
import keras
import tensorflow as tf

from musiczoo.models import augment
from musiczoo.models.music_transformer.attention import RelativeSelfAttention

NEG_INF = -1e9


class DecoderLayer(keras.layers.Layer):
    def __init__(self, d_model, num_heads, ff_size, max_relative_position, dropout_rate,
                 relative="block", **kwargs):
        super().__init__(**kwargs)
        self.attention_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="attention_norm")
        # "block" (query blocks, O(L * block) memory) by default; "skewed" / "naive" give
        # the same outputs from the same weights (attention.py).
        self.attention = RelativeSelfAttention(d_model, num_heads, max_relative_position,
                                               dropout_rate, relative=relative, name="attention")
        self.ff_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="ff_norm")
        self.ff_in = keras.layers.Dense(ff_size, activation="relu", name="ff_in")
        self.ff_out = keras.layers.Dense(d_model, name="ff_out")
        self.dropout = keras.layers.Dropout(dropout_rate)

    def feed_forward(self, x, training=False):
        return self.ff_out(self.dropout(self.ff_in(self.ff_norm(x)), training=training))

    def call(self, x, training=False):
        x = x + self.dropout(self.attention(self.attention_norm(x), training=training),
                             training=training)
        return x + self.dropout(self.feed_forward(x, training), training=training)

    def call_cached(self, x, keys, values):
        attended, keys, values = self.attention.call_cached(self.attention_norm(x), keys, values)
        x = x + attended
        return x + self.feed_forward(x), keys, values


class MusicTransformerNetwork(keras.Model):
    """ids [B, T] (or [B, T, 1] float ids, as datasets store them) -> logits [B, T, C].
    Input id `num_classes` is the start symbol; class ids below `num_reserved_ids`
    (padding / end markers of the 310-event vocabulary) are never sampled."""

    def __init__(self, config, num_classes, num_reserved_ids=0, relative="block", **kwargs):
        super().__init__(**kwargs)
        self.config_ = config
        self.num_classes = int(num_classes)
        self.num_reserved_ids = int(num_reserved_ids)
        self.head_dim = config.d_model // config.num_heads
        self.embedding = keras.layers.Embedding(num_classes + 1, config.d_model,
                                                name="embedding")
        self.dropout = keras.layers.Dropout(config.dropout_rate)
        self.decoder_layers = [
            DecoderLayer(config.d_model, config.num_heads, config.ff_size,
                         config.max_relative_position, config.dropout_rate,
                         relative=relative, name=f"layer_{n}")
            for n in range(config.num_layers)]
        self.final_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="final_norm")
        self.logits_dense = keras.layers.Dense(num_classes, name="logits")
        self.build_all()

    def build_all(self):
        self(tf.zeros([1, 2], tf.int32))

    def _embed(self, ids, training=False):
        if ids.shape.rank == 3:
            ids = ids[..., 0]
        ids = tf.cast(ids, tf.int32)
        return self.dropout(self.embedding(ids) * self.config_.d_model ** 0.5, training=training)

    def call(self, ids, training=False):
        x = self._embed(ids, training)
        for layer in self.decoder_layers:
            x = layer(x, training=training)
        return self.logits_dense(self.final_norm(x))

    def _sampling_logits(self, logits):
        if self.num_reserved_ids:
            reserved = tf.range(self.num_classes) < self.num_reserved_ids
            logits = tf.where(reserved, tf.constant(NEG_INF, logits.dtype), logits)
        return logits

    # -- sampling: the compiled loop of musiczoo.sampling drives these -------------------

    def initial_state(self, batch):
        """Empty key/value caches [B, H, 0, Dh] per layer."""
        empty = tf.zeros([batch, self.config_.num_heads, 0, self.head_dim])
        return {"keys": tuple(empty for _ in self.decoder_layers),
                "values": tuple(empty for _ in self.decoder_layers)}

    def step(self, ids, state):
        """ids [B, 1] -> (logits [B, C], caches one position longer)."""
        x = self._embed(ids)
        keys, values = [], []
        for layer, k, v in zip(self.decoder_layers, state["keys"], state["values"]):
            x, k, v = layer.call_cached(x, k, v)
            keys.append(k)
            values.append(v)
        logits = self.logits_dense(self.final_norm(x))[:, 0]
        return self._sampling_logits(logits), {"keys": tuple(keys), "values": tuple(values)}

    def initial_uncached_state(self, batch):
        return {"tokens": tf.zeros([batch, 0], tf.int32)}

    def uncached_step(self, ids, state):
        """The same step by running the whole prefix through `call` again."""
        tokens = tf.concat([state["tokens"], tf.cast(ids, tf.int32)], axis=1)
        logits = self(tokens)[:, -1]
        return self._sampling_logits(logits), {"tokens": tokens}


class WarmupRsqrtSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `peak` over `warmup_steps`, then peak * sqrt(warmup / step)
    (tensor2tensor's linear_warmup * rsqrt_decay)."""

    def __init__(self, peak, warmup_steps):
        self.peak, self.warmup_steps = float(peak), max(int(warmup_steps), 1)

    def __call__(self, step):
        step = tf.maximum(tf.cast(step, tf.float32) + 1.0, 1.0)
        warmup = float(self.warmup_steps)
        return self.peak * tf.minimum(step / warmup, tf.sqrt(warmup / step))

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps}


def transpose_tokens(ids, labels, lengths, pitch_ranges, max_shift, seed=None):
    """Train-time transposition: every example moves by its own random amount in
    [-max_shift, max_shift]; an example any of whose pitches would leave its range stays
    where it is. Inputs and labels (one token apart) move together."""
    return augment.transpose([ids, labels], pitch_ranges, max_shift, lengths, seed)
