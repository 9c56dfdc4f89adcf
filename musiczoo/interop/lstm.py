"""What every Magenta import shares: TF1's LSTM cells and state layout <-> Keras's.

TF1's BasicLSTMCell / LSTMBlockCell keep one [inputs + units, 4 units] matrix over
[x, h] with the gates in the order i, j (the new input), f, o, and add a forget bias of
1.0 at run time; Keras's LSTMCell keeps [x] and [h] apart, orders its gates i, f, c, o,
and has no run-time bias. TF1 flattens an LSTM stack's state as c_1, h_1, c_2, h_2, ...;
musiczoo as h_1, c_1, ...
"""
import numpy as np

from musiczoo.interop.containers import ImportFailure

FORGET_BIAS = 1.0


def _gates_to_keras(matrix):
    i, j, f, o = np.split(np.asarray(matrix, np.float32), 4, axis=-1)
    return np.concatenate([i, f, j, o], axis=-1)


def _gates_to_magenta(matrix):
    i, f, c, o = np.split(np.asarray(matrix, np.float32), 4, axis=-1)
    return np.concatenate([i, c, f, o], axis=-1)


def put(target, value, source, where):
    """Assigns `value` to the variable `target`, refusing another shape by name."""
    value = np.asarray(value, np.float32)
    if tuple(target.shape) != value.shape:
        raise ImportFailure(f"{where}: {source} gives shape {list(value.shape)}; "
                            f"{target.path} needs {list(target.shape)}")
    target.assign(value)


def assign_cell(cell, variables, kernel_name, bias_name, where):
    """A Magenta LSTM cell's kernel and bias into a Keras LSTMCell; returns the number
    of inputs its kernel takes."""
    kernel = _gates_to_keras(variables[kernel_name])
    bias = _gates_to_keras(variables[bias_name])
    bias[cell.units:2 * cell.units] += FORGET_BIAS
    inputs = kernel.shape[0] - cell.units
    put(cell.kernel, kernel[:inputs], kernel_name, where)
    put(cell.recurrent_kernel, kernel[inputs:], kernel_name, where)
    put(cell.bias, bias, bias_name, where)
    return inputs


def cell_to_magenta(cell):
    """(kernel, bias) of a Keras LSTMCell in Magenta's layout."""
    kernel = np.concatenate([cell.kernel.numpy(), cell.recurrent_kernel.numpy()], axis=0)
    bias = cell.bias.numpy().copy()
    bias[cell.units:2 * cell.units] -= FORGET_BIAS
    return _gates_to_magenta(kernel), _gates_to_magenta(bias)


def state_order(units, to_keras):
    """Index order taking vectors over Magenta's flattened state [c_1, h_1, c_2, h_2,
    ...] (a query matrix's rows, an initial-state layer's columns) to musiczoo's
    [h_1, c_1, ...], or back."""
    order, offset = [], 0
    for u in units:
        order += [np.arange(offset + u, offset + 2 * u), np.arange(offset, offset + u)]
        offset += 2 * u
    order = np.concatenate(order) if order else np.zeros(0, np.int64)
    return order if to_keras else np.argsort(order)
