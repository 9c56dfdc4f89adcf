"""Network pieces more than one family uses: recurrent cells by type, run in a stack."""
import keras
from keras import ops

CELL_TYPES = ("lstm", "gru", "layer_norm_lstm")


@keras.saving.register_keras_serializable(package="musiczoo")
class LayerNormLSTMCell(keras.layers.Layer):
    """An LSTM cell with layer normalisation (Ba et al. 2016), as TF1's
    LayerNormBasicLSTMCell: each gate's pre-activation (input, new input, forget,
    output) normalised on its own, then the new cell state; forget bias 1.0. State [h, c]."""

    def __init__(self, units, forget_bias=1.0, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.forget_bias = float(forget_bias)
        self.state_size = [self.units, self.units]
        self.output_size = self.units
        self.norms = [keras.layers.LayerNormalization(epsilon=1e-3, name=f"norm_{gate}")
                      for gate in ("input", "transform", "forget", "output", "state")]

    def build(self, input_shape):
        width = input_shape[-1]
        self.kernel = self.add_weight((width, 4 * self.units), initializer="glorot_uniform",
                                      name="kernel")
        self.recurrent_kernel = self.add_weight((self.units, 4 * self.units),
                                                initializer="orthogonal",
                                                name="recurrent_kernel")
        for norm in self.norms:
            norm.build((None, self.units))
        super().build(input_shape)

    def call(self, inputs, states, training=False):
        h, c = states[0], states[1]
        gates = ops.matmul(inputs, self.kernel) + ops.matmul(h, self.recurrent_kernel)
        i, j, f, o = [norm(g) for norm, g in zip(self.norms, ops.split(gates, 4, axis=-1))]
        c = c * ops.sigmoid(f + self.forget_bias) + ops.sigmoid(i) * ops.tanh(j)
        c = self.norms[4](c)
        h = ops.tanh(c) * ops.sigmoid(o)
        return h, [h, c]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "forget_bias": self.forget_bias}


def make_cell(cell_type, units, name):
    """One recurrent cell of `cell_type` (CELL_TYPES): Keras's LSTMCell (state [h, c]),
    GRUCell (state [h]) or LayerNormLSTMCell."""
    if cell_type == "lstm":
        return keras.layers.LSTMCell(units, name=name)
    if cell_type == "gru":
        return keras.layers.GRUCell(units, name=name)
    if cell_type == "layer_norm_lstm":
        return LayerNormLSTMCell(units, name=name)
    raise ValueError(f"cell_type must be one of {', '.join(CELL_TYPES)}, got {cell_type!r}")


def state_sizes(cell):
    """The widths of a cell's state tensors ([h, c] for LSTMs, [h] for a GRU)."""
    size = cell.state_size
    return list(size) if isinstance(size, (list, tuple)) else [int(size)]


def build_stacked_cells(cells, sizes, width):
    """Builds RNN cells that run one after another: each takes the previous one's output
    (the first takes `width` features). Returns the last output width."""
    for cell, size in zip(cells, sizes):
        cell.build((None, width))
        width = size
    return width


def run_stacked_cells(cells, x, states, training=False, dropout=None):
    """One step of stacked cells: x through each cell in turn, each cell's output passed
    through `dropout` (Magenta's DropoutWrapper) when given. `states` is every cell's
    state tensors one after another ([h_1, c_1, h_2, c_2, ...] for LSTMs, [h_1, h_2, ...]
    for GRUs); returns (last output, new states in the same layout)."""
    new_states, offset = [], 0
    for cell in cells:
        count = len(state_sizes(cell))
        x, state = cell(x, list(states[offset:offset + count]), training=training)
        offset += count
        if dropout is not None:
            x = dropout(x, training=training)
        new_states += list(state) if isinstance(state, (list, tuple)) else [state]
    return x, new_states
