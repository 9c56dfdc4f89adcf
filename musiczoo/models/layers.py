"""Network pieces more than one family uses."""


def build_stacked_cells(cells, sizes, width):
    """Builds RNN cells that run one after another: each takes the previous one's output
    (the first takes `width` features). Returns the last output width."""
    for cell, size in zip(cells, sizes):
        cell.build((None, width))
        width = size
    return width


def run_stacked_cells(cells, x, states, training=False, dropout=None):
    """One step of stacked LSTM cells: x through each cell in turn, each cell's output
    passed through `dropout` (Magenta's DropoutWrapper) when given. `states` is
    [h_1, c_1, ..., h_n, c_n]; returns (last output, new states in the same layout)."""
    new_states = []
    for i, cell in enumerate(cells):
        x, (h, c) = cell(x, [states[2 * i], states[2 * i + 1]], training=training)
        if dropout is not None:
            x = dropout(x, training=training)
        new_states += [h, c]
    return x, new_states
