"""MusicVAE's networks in Keras 3: bidirectional LSTM encoder -> (mu, sigma), and an LSTM
decoder conditioned on z, flat (2-bar) or under a conductor (one embedding per bar).

The decoder is one Keras RNN cell whose input at step t is the previous event (the true
one, or with scheduled sampling the model's own sample) plus the conditioning vector; the
same weights run whole windows in training and one step at a time in the compiled
sampling loop (`step`), and the tests check the two agree.
"""
import keras
import tensorflow as tf
from keras import ops

from musiczoo.models.layers import (LayerNormLSTMCell, build_stacked_cells, make_cell,
                                    run_stacked_cells, state_sizes)


def _cell_name(cell_type, prefix, i):
    # LSTM cells keep their first names (lstm_0, conductor_0): bundles restore by name.
    return f"{prefix}_{i}" if cell_type == "lstm" else f"{prefix}_{cell_type}_{i}"


def _widths(cells):
    return [w for cell in cells for w in state_sizes(cell)]


def _state_from_embedding(dense, embedding, widths):
    """Magenta's initial_cell_state_from_embedding: tanh(dense(z)) split into every
    cell's state tensors ([h, c] per LSTM layer, [h] per GRU layer)."""
    flat = ops.tanh(dense(embedding))
    states, offset = [], 0
    for n in widths:
        states.append(flat[:, offset:offset + n])
        offset += n
    return states


def _sequence_layer(cell_type, units, last):
    if cell_type == "lstm":
        return keras.layers.LSTM(units, return_sequences=not last, name="lstm")
    if cell_type == "gru":
        return keras.layers.GRU(units, return_sequences=not last, name="gru")
    return keras.layers.RNN(LayerNormLSTMCell(units, name="cell"), return_sequences=not last,
                            name="layer_norm_lstm")


class BidirectionalEncoder(keras.layers.Layer):
    """Stacked bidirectional LSTMs; the last layer's final forward and backward outputs,
    concatenated, give mu and sigma = softplus(...)."""

    def __init__(self, layer_sizes, z_size, cell_type="lstm", **kwargs):
        super().__init__(**kwargs)
        self.layer_sizes = tuple(layer_sizes)
        # The inner LSTM is named: Bidirectional calls its halves forward_<name> and
        # backward_<name>, and an unnamed LSTM's name depends on how many were made before
        # in the process (lstm, lstm_1, ...): a second model's weights would not be found
        # by name.
        self.rnns = [keras.layers.Bidirectional(
            _sequence_layer(cell_type, n, i == len(self.layer_sizes) - 1),
            name=f"bilstm_{i}") for i, n in enumerate(self.layer_sizes)]
        self.mu = keras.layers.Dense(z_size, name="mu")
        self.sigma = keras.layers.Dense(z_size, name="sigma")

    def call(self, inputs, training=False):
        x = inputs
        for rnn in self.rnns:
            x = rnn(x, training=training)
        return self.mu(x), ops.softplus(self.sigma(x))


class DecoderCell(keras.layers.Layer):
    """Stacked LSTM cells + output logits.

    Input per step: [previous event one-hot (C), use-own-sample flag (1), conditioning].
    State: [h_1, c_1, ..., h_n, c_n, logits of the previous step]; where the flag is set
    the previous event is drawn from those logits instead (scheduled sampling)."""

    def __init__(self, layer_sizes, num_classes, cell_type="lstm", **kwargs):
        super().__init__(**kwargs)
        self.layer_sizes = tuple(layer_sizes)
        self.num_classes = int(num_classes)
        self.cells = [make_cell(cell_type, n, _cell_name(cell_type, "lstm", i))
                      for i, n in enumerate(self.layer_sizes)]
        self.logits = keras.layers.Dense(self.num_classes, name="logits")
        self.state_size = _widths(self.cells) + [self.num_classes]
        self.output_size = self.num_classes

    def build(self, input_shape):
        width = input_shape[-1] - 1  # the flag is not a network input
        self.logits.build((None, build_stacked_cells(self.cells, self.layer_sizes, width)))
        super().build(input_shape)

    def advance(self, previous, condition, states, training=False):
        """previous [B, C], condition [B, E], states [h, c]*n -> (logits, new states)."""
        x, new_states = run_stacked_cells(
            self.cells, ops.concatenate([previous, condition], axis=-1), states, training)
        return self.logits(x), new_states

    def call(self, inputs, states, training=False):
        classes = self.num_classes
        previous, flag, condition = (inputs[:, :classes], inputs[:, classes:classes + 1],
                                     inputs[:, classes + 1:])
        previous_logits = states[-1]
        use_sample = flag[:, 0] > 0.5

        def own_sample():
            drawn = tf.random.categorical(previous_logits, 1, dtype=tf.int32)[:, 0]
            return tf.where(use_sample[:, None], tf.one_hot(drawn, classes), previous)

        previous = tf.cond(tf.reduce_any(use_sample), own_sample, lambda: previous)
        logits, new_states = self.advance(previous, condition, list(states[:-1]), training)
        return logits, new_states + [logits]


class Decoder(keras.layers.Layer):
    """Flat (conductor_sizes empty: z conditions every step, one segment) or hierarchical
    (a conductor LSTM turns z into one embedding per bar; each bar is decoded from a
    state made from its embedding, the embedding conditioning every step)."""

    def __init__(self, layer_sizes, num_classes, seq_len, conductor_sizes=(), segment_len=None,
                 cell_type="lstm", **kwargs):
        super().__init__(**kwargs)
        self.layer_sizes, self.conductor_sizes = tuple(layer_sizes), tuple(conductor_sizes)
        self.num_classes, self.seq_len = int(num_classes), int(seq_len)
        self.segment_len = int(segment_len) if conductor_sizes else self.seq_len
        if self.seq_len % self.segment_len:
            raise ValueError(f"sequence length {seq_len} is not a multiple of the segment "
                             f"length {segment_len}")
        self.num_segments = self.seq_len // self.segment_len
        self.cell = DecoderCell(layer_sizes, num_classes, cell_type, name="decoder_cell")
        self.rnn = keras.layers.RNN(self.cell, return_sequences=True, name="decoder_rnn")
        self.widths = _widths(self.cell.cells)
        self.initial = keras.layers.Dense(sum(self.widths), name="initial_state")
        if self.conductor_sizes:
            self.conductor_cells = [make_cell(cell_type, n, _cell_name(cell_type, "conductor", i))
                                    for i, n in enumerate(self.conductor_sizes)]
            self.conductor_widths = _widths(self.conductor_cells)
            self.conductor_rnn = keras.layers.RNN(
                keras.layers.StackedRNNCells(self.conductor_cells, name="conductor_cells"),
                return_sequences=True,
                name="conductor_rnn")
            self.conductor_initial = keras.layers.Dense(sum(self.conductor_widths),
                                                        name="conductor_initial_state")

    def embeddings(self, z):
        """[B, num_segments, E]: z itself (flat) or the conductor's output per bar."""
        if not self.conductor_sizes:
            return z[:, None, :]
        states = _state_from_embedding(self.conductor_initial, z, self.conductor_widths)
        nested, offset = [], 0
        for cell in self.conductor_cells:
            count = len(state_sizes(cell))
            nested.append(states[offset:offset + count])
            offset += count
        # Magenta's hierdec configs disable autoregression in the conductor: zero inputs.
        inputs = ops.zeros((ops.shape(z)[0], self.num_segments, 1))
        return self.conductor_rnn(inputs, initial_state=nested)

    def call(self, z, targets, sampling_probability=0.0, training=False):
        """Teacher-forced logits [B, T, C] for target ids [B, T] (scheduled sampling with
        `sampling_probability`)."""
        batch = ops.shape(targets)[0]
        classes, seg = self.num_classes, self.segment_len
        previous = ops.one_hot(ops.pad(targets[:, :-1], [[0, 0], [1, 0]], constant_values=-1),
                               classes)  # step 0 sees zeros (index -1 one-hots to nothing)
        embed = self.embeddings(z)                          # [B, S, E]
        rows = batch * self.num_segments
        width = ops.shape(embed)[-1]
        condition = ops.reshape(ops.repeat(embed[:, :, None, :], seg, axis=2),
                                (rows, seg, width))
        flag = tf.cast(tf.random.uniform((rows, seg, 1)) < sampling_probability, tf.float32)
        flag = ops.concatenate([ops.zeros((rows, 1, 1)), flag[:, 1:]], axis=1)
        inputs = ops.concatenate([ops.reshape(previous, (rows, seg, classes)), flag, condition],
                                 axis=-1)
        states = _state_from_embedding(self.initial, ops.reshape(embed, (rows, width)),
                                       self.widths)
        states.append(ops.zeros((rows, classes)))
        logits = self.rnn(inputs, initial_state=states, training=training)
        return ops.reshape(logits, (batch, self.seq_len, classes))

    # -- one step at a time, for the compiled sampling loop ---------------------------------

    def initial_sampling_state(self, z):
        """State for `step`: (core states, current condition, conductor outputs, step)."""
        embed = self.embeddings(z)
        first = embed[:, 0]
        core = _state_from_embedding(self.initial, first, self.widths)
        return {"core": core, "condition": first, "segments": embed,
                "t": ops.zeros((ops.shape(z)[0],), "int32")}

    def step(self, previous, state):
        """previous one-hot [B, C] -> (logits [B, C], state); a new bar starts from its
        conductor embedding (its state reset), as in training."""
        t = state["t"]
        core, condition = state["core"], state["condition"]
        if self.conductor_sizes:
            segment = tf.minimum(t[0] // self.segment_len, self.num_segments - 1)
            starts = tf.logical_and(t[0] > 0, t[0] % self.segment_len == 0)
            fresh = state["segments"][:, segment]
            fresh_core = _state_from_embedding(self.initial, fresh, self.widths)
            core = [tf.where(starts, new, old) for new, old in zip(fresh_core, core)]
            condition = tf.where(starts, fresh, condition)
        logits, core = self.cell.advance(previous, condition, core)
        return logits, {"core": core, "condition": condition, "segments": state["segments"],
                        "t": t + 1}
