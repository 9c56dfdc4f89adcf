"""The events-RNN core shared by Melody RNN and Drums RNN: stacked LSTM, optional
attention over recent outputs (Magenta's AttentionCellWrapper), dropout, logits.

Written as one Keras 3 RNN cell so the same weights serve training (keras.layers.RNN
over whole sequences) and generation (`step`, one event at a time inside a compiled
sampling loop).
"""
import keras
from keras import ops

from musiczoo.models.layers import build_stacked_cells, make_cell, run_stacked_cells, state_sizes


class EventsRNNCell(keras.layers.Layer):
    """Stacked LSTM cells, each output dropped out (Magenta's DropoutWrapper), wrapped in
    attention over the last `attn_length` outputs when attn_length > 0.

    State: every cell's state ([h_1, c_1, ..., h_n, c_n] for LSTMs, [h_1, ..., h_n] for
    GRUs) plus, with attention, [attention vector, flattened window of past outputs].
    """

    def __init__(self, layer_sizes, dropout_rate=0.0, attn_length=0, input_size=None,
                 cell_type="lstm", **kwargs):
        super().__init__(**kwargs)
        self.layer_sizes = tuple(int(n) for n in layer_sizes)
        self.dropout_rate = float(dropout_rate)
        self.attn_length = int(attn_length)
        self.cell_type = cell_type
        # LSTM cells keep their first names (lstm_0, ...): bundles restore them by name.
        prefix = "lstm" if cell_type == "lstm" else cell_type
        self.cells = [make_cell(cell_type, n, f"{prefix}_{i}")
                      for i, n in enumerate(self.layer_sizes)]
        self.dropout = keras.layers.Dropout(self.dropout_rate) if self.dropout_rate else None
        size = self.layer_sizes[-1]
        self.state_size = [w for cell in self.cells for w in state_sizes(cell)]
        if self.attn_length:
            self.state_size += [size, self.attn_length * size]
            self.input_projection = keras.layers.Dense(input_size, name="attn_input_projection")
            self.keys = keras.layers.Dense(size, use_bias=False, name="attn_keys")
            self.query = keras.layers.Dense(size, name="attn_query")
            self.output_projection = keras.layers.Dense(size, name="attn_output_projection")
        self.output_size = size

    def build(self, input_shape):
        size = self.layer_sizes[-1]
        if self.attn_length:
            self.input_projection.build((None, input_shape[-1] + size))
            self.keys.build((None, self.attn_length, size))
            self.query.build((None, sum(w for c in self.cells for w in state_sizes(c))))
            self.output_projection.build((None, 2 * size))
            self.attn_v = self.add_weight((size,), initializer="glorot_uniform", name="attn_v")
        build_stacked_cells(self.cells, self.layer_sizes, input_shape[-1])
        super().build(input_shape)

    def call(self, inputs, states, training=False):
        states = list(states)
        size = self.layer_sizes[-1]
        if self.attn_length:
            attns, window = states[-2], states[-1]
            inputs = self.input_projection(ops.concatenate([inputs, attns], axis=-1))
        x, new_states = run_stacked_cells(self.cells, inputs, states, training, self.dropout)
        if not self.attn_length:
            return x, new_states
        # Bahdanau attention of the new LSTM state over the window of past outputs.
        window = ops.reshape(window, (-1, self.attn_length, size))
        query = self.query(ops.concatenate(new_states, axis=-1))[:, None, :]
        scores = ops.sum(self.attn_v * ops.tanh(self.keys(window) + query), axis=-1)
        weights = ops.softmax(scores, axis=-1)
        new_attns = ops.sum(weights[:, :, None] * window, axis=1)
        output = self.output_projection(ops.concatenate([x, new_attns], axis=-1))
        window = ops.concatenate([window[:, 1:], output[:, None, :]], axis=1)
        return output, new_states + [new_attns, ops.reshape(window, (-1, self.attn_length * size))]

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, n)) for n in self.state_size]

    def get_config(self):
        config = super().get_config()
        config.update(layer_sizes=list(self.layer_sizes), dropout_rate=self.dropout_rate,
                      attn_length=self.attn_length, cell_type=self.cell_type)
        return config


class EventsRNNModel(keras.Model):
    """inputs [B, T, input_size] -> logits [B, T, num_classes]; `step` for one event."""

    def __init__(self, input_size, num_classes, layer_sizes, dropout_rate=0.0, attn_length=0,
                 cell_type="lstm", **kwargs):
        super().__init__(**kwargs)
        self.input_size, self.num_classes = int(input_size), int(num_classes)
        self.cell = EventsRNNCell(layer_sizes, dropout_rate, attn_length, input_size=input_size,
                                  cell_type=cell_type, name="events_rnn_cell")
        self.rnn = keras.layers.RNN(self.cell, return_sequences=True, name="rnn")
        self.logits = keras.layers.Dense(num_classes, name="logits")
        # Build every weight now, so weights can be assigned from a bundle right away.
        self(ops.zeros((1, 1, self.input_size)))

    def call(self, inputs, training=False):
        return self.logits(self.rnn(inputs, training=training))

    def initial_state(self, batch_size):
        return self.cell.get_initial_state(batch_size)

    def step(self, inputs, state):
        """One event: inputs [B, input_size], state -> (logits [B, num_classes], state)."""
        output, state = self.cell(inputs, state, training=False)
        return self.logits(output), state
