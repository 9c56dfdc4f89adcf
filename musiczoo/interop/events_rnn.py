"""Magenta's Melody RNN / Drums RNN weights <-> musiczoo's events RNN, exactly.

Magenta's graph (magenta/models/shared/events_rnn_graph.py) is MultiRNNCell of
BasicLSTMCell (each in a DropoutWrapper, no variables), optionally inside
tf.contrib.rnn.AttentionCellWrapper, run by dynamic_rnn under the scope "rnn", then
tf.contrib.layers.linear as "fully_connected". Its variables, and what they become here:

- `rnn/[attention_cell_wrapper/]multi_rnn_cell/cell_k/basic_lstm_cell/{kernel,bias}`
  (older: `weights/biases`, `lstm_cell`, TF 0.x `RNN/MultiRNNCell/CellK/BasicLSTMCell/
  Linear/{Matrix,Bias}`): one [inputs + units, 4 units] matrix over [x, h] with the gates
  in the order i, j (the new input), f, o, and 1.0 added to f at run time. Keras's
  LSTMCell keeps [x] and [h] apart and orders its gates i, f, c, o with no run-time
  bias: the columns are reordered, the matrix split, and the 1.0 folded into f's bias.
- `.../attention_cell_wrapper/{kernel,bias}`: the input projection of [x, attention].
- `.../attention/attn_w` [1, 1, size, size] (a 1x1 conv: our keys), `attn_v`, and
  `attention/{kernel,bias}`: the query from the flattened new state, which Magenta
  orders c_1, h_1, c_2, h_2, ... and musiczoo h_1, c_1, ...: its rows are reordered.
- `.../attention_output_projection/{kernel,bias}` (or `attn_output_projection`).
- `fully_connected/{weights,biases}`: the logits.

`to_magenta` is the inverse, for Magenta.js export.
"""
import dataclasses
import re

import numpy as np

from musiczoo.interop.containers import ImportFailure
from musiczoo.interop.lstm import assign_cell, cell_to_magenta, put, state_order
#: Magenta generator ids (a .mag's generator_details.id) -> (family, config).
GENERATOR_IDS = {"basic_rnn": ("melody_rnn", "basic_rnn"),
                 "mono_rnn": ("melody_rnn", "mono_rnn"),
                 "lookback_rnn": ("melody_rnn", "lookback_rnn"),
                 "attention_rnn": ("melody_rnn", "attention_rnn"),
                 "one_drum": ("drums_rnn", "one_drum"),
                 "drum_kit": ("drums_rnn", "drum_kit"),
                 "performance": ("performance_rnn", "performance"),
                 "performance_with_dynamics": ("performance_rnn", "performance_with_dynamics"),
                 **{name: ("performance_rnn", name) for name in (
                     "performance_with_dynamics_and_modulo_encoding",
                     "density_conditioned_performance_with_dynamics",
                     "pitch_conditioned_performance_with_dynamics",
                     "multiconditioned_performance_with_dynamics",
                     "optional_multiconditioned_performance_with_dynamics")}}

_CELL = re.compile(r"^(?:rnn|RNN)/(?:attention_cell_wrapper/|AttentionCellWrapper/)?"
                   r"(?:multi_rnn_cell|MultiRNNCell)/(?:cell_|Cell)(\d+)/"
                   r"(?:basic_lstm_cell|lstm_cell|BasicLSTMCell|LSTMCell)/(?:Linear/)?"
                   r"(kernel|weights|Matrix|bias|biases|Bias)$")
_WRAPPER = r"(?:rnn|RNN)/(?:attention_cell_wrapper|AttentionCellWrapper)/"
_KERNEL, _BIAS = r"(?:kernel|weights|Matrix)", r"(?:bias|biases|Bias)"
_ATTENTION = {
    "input_kernel": _WRAPPER + r"(?:attn_input_projection/)?(?:Linear/)?" + _KERNEL,
    "input_bias": _WRAPPER + r"(?:attn_input_projection/)?(?:Linear/)?" + _BIAS,
    "attn_w": _WRAPPER + r"attention/attn_w",
    "attn_v": _WRAPPER + r"attention/attn_v",
    "query_kernel": _WRAPPER + r"attention/(?:Linear/)?" + _KERNEL,
    "query_bias": _WRAPPER + r"attention/(?:Linear/)?" + _BIAS,
    "output_kernel": _WRAPPER + r"(?:attention_output_projection|attn_output_projection)/"
                                r"(?:Linear/)?" + _KERNEL,
    "output_bias": _WRAPPER + r"(?:attention_output_projection|attn_output_projection)/"
                              r"(?:Linear/)?" + _BIAS,
}
_LOGITS = {"kernel": r"fully_connected/" + _KERNEL, "bias": r"fully_connected/" + _BIAS}


def _find(variables, pattern, what, where):
    found = [name for name in variables if re.fullmatch(pattern, name)]
    if not found:
        raise ImportFailure(f"{where}: no {what} variable (looked for {pattern!r})")
    if len(found) > 1:
        raise ImportFailure(f"{where}: {len(found)} variables could be the {what}: "
                            f"{', '.join(found)}")
    return found[0]


def layout(variables, where):
    """The Magenta graph the variables describe: {"cells": [(kernel name, bias name)],
    "units": [...], "input_width": n, "attention": {role: name} or None,
    "logits": {...}, "num_classes": n}; unknown variables are refused by name."""
    cells = {}
    for name in variables:
        match = _CELL.match(name)
        if match:
            role = "kernel" if match.group(2) in ("kernel", "weights", "Matrix") else "bias"
            cells.setdefault(int(match.group(1)), {})[role] = name
    if not cells:
        names = ", ".join(sorted(variables)[:6]) or "none"
        raise ImportFailure(f"{where}: no Magenta LSTM cell variables "
                            f"(rnn/multi_rnn_cell/cell_0/basic_lstm_cell/kernel ...); found "
                            f"{names}. Only Melody RNN and Drums RNN (LSTM) checkpoints "
                            "import as events RNNs")
    if sorted(cells) != list(range(len(cells))):
        raise ImportFailure(f"{where}: LSTM cells {sorted(cells)} are not numbered 0..n-1")
    ordered, units = [], []
    for k in range(len(cells)):
        if set(cells[k]) != {"kernel", "bias"}:
            raise ImportFailure(f"{where}: cell_{k} has {sorted(cells[k].values())} only; it "
                                "needs a kernel and a bias")
        kernel, bias = variables[cells[k]["kernel"]], variables[cells[k]["bias"]]
        if bias.ndim != 1 or bias.shape[0] % 4 or kernel.ndim != 2 or \
                kernel.shape[1] != bias.shape[0]:
            raise ImportFailure(f"{where}: {cells[k]['kernel']} {list(kernel.shape)} and "
                                f"{cells[k]['bias']} {list(bias.shape)} are not an LSTM's "
                                "[inputs + units, 4 units] and [4 units]")
        units.append(bias.shape[0] // 4)
        ordered.append((cells[k]["kernel"], cells[k]["bias"]))
    for k in range(1, len(units)):
        if variables[ordered[k][0]].shape[0] != units[k - 1] + units[k]:
            raise ImportFailure(f"{where}: {ordered[k][0]} has {variables[ordered[k][0]].shape[0]}"
                                f" rows; cell_{k} takes cell_{k - 1}'s {units[k - 1]} outputs "
                                f"plus its own {units[k]}")
    attention = None
    if any(re.match(_WRAPPER, n) and not _CELL.match(n) for n in variables):
        attention = {role: _find(variables, pattern, role.replace("_", " "), where)
                     for role, pattern in _ATTENTION.items()}
    logits = {role: _find(variables, pattern, f"output {role}", where)
              for role, pattern in _LOGITS.items()}
    known = {n for pair in ordered for n in pair} | set(logits.values()) | \
        set((attention or {}).values())
    unknown = sorted(set(variables) - known)
    if unknown:
        raise ImportFailure(f"{where}: variables this events-RNN import does not know: "
                            f"{', '.join(unknown[:8])}{' ...' if len(unknown) > 8 else ''}")
    input_width = variables[ordered[0][0]].shape[0] - units[0]
    return {"cells": ordered, "units": units, "input_width": int(input_width),
            "attention": attention, "logits": logits,
            "num_classes": int(variables[logits["bias"]].shape[0])}


def fit_config(config, plan, where):
    """`config` with the checkpoint's layer sizes, after checking its codec and
    attention agree with the checkpoint."""
    if getattr(config, "cell_type", "lstm") != "lstm":
        raise ImportFailure(f"{where}: Magenta's events RNNs are LSTMs; cell_type="
                            f"{config.cell_type} cannot hold their weights")
    config = dataclasses.replace(config, layer_sizes=tuple(int(u) for u in plan["units"]))
    codec = config.codec()
    if plan["input_width"] != codec.input_size:
        raise ImportFailure(f"{where}: {plan['cells'][0][0]} takes {plan['input_width']} "
                            f"inputs; {config.name}'s encoding has {codec.input_size} (is it "
                            "another config? pass --config)")
    if plan["num_classes"] != codec.num_classes:
        raise ImportFailure(f"{where}: {plan['logits']['bias']} has {plan['num_classes']} "
                            f"classes; {config.name}'s encoding has {codec.num_classes}")
    if bool(plan["attention"]) != bool(config.attn_length):
        raise ImportFailure(f"{where}: the checkpoint {'has' if plan['attention'] else 'has no'}"
                            f" attention; {config.name} {'has' if config.attn_length else 'has no'}"
                            " attention (pass the --config it was trained with)")
    return config


def assign(model, variables, plan, where):
    """Writes the Magenta variables into an events-RNN musiczoo model (models/events_rnn/
    model.EventsRNNModel), checking every shape."""
    cell = model.model.cell
    width = cell.input_projection.kernel.shape[-1] if plan["attention"] else plan["input_width"]
    first_inputs = variables[plan["cells"][0][0]].shape[0] - cell.cells[0].units
    if first_inputs != width:
        raise ImportFailure(f"{where}: {plan['cells'][0][0]} takes {first_inputs} inputs; "
                            f"the model's first layer takes {width}")
    for (kernel_name, bias_name), lstm in zip(plan["cells"], cell.cells):
        assign_cell(lstm, variables, kernel_name, bias_name, where)
    attention = plan["attention"]
    if attention:
        size = plan["units"][-1]
        put(cell.input_projection.kernel, variables[attention["input_kernel"]],
            attention["input_kernel"], where)
        put(cell.input_projection.bias, variables[attention["input_bias"]],
            attention["input_bias"], where)
        attn_w = np.asarray(variables[attention["attn_w"]])
        put(cell.keys.kernel, attn_w.reshape(attn_w.shape[-2:]) if attn_w.ndim == 4 else attn_w,
            attention["attn_w"], where)
        put(cell.attn_v, variables[attention["attn_v"]], attention["attn_v"], where)
        query = np.asarray(variables[attention["query_kernel"]])
        if query.shape[0] != 2 * sum(plan["units"]):
            raise ImportFailure(f"{where}: {attention['query_kernel']} has {query.shape[0]} "
                                f"rows; the state has {2 * sum(plan['units'])}")
        put(cell.query.kernel, query[state_order(plan["units"], True)],
            attention["query_kernel"], where)
        put(cell.query.bias, variables[attention["query_bias"]], attention["query_bias"], where)
        put(cell.output_projection.kernel, variables[attention["output_kernel"]],
            attention["output_kernel"], where)
        put(cell.output_projection.bias, variables[attention["output_bias"]],
            attention["output_bias"], where)
        if cell.output_projection.kernel.shape[-1] != size:
            raise ImportFailure(f"{where}: the attention size differs from the last layer's")
    for part in ("kernel", "bias"):
        put(getattr(model.model.logits, part), variables[plan["logits"][part]],
            plan["logits"][part], where)


def to_magenta(model):
    """{Magenta variable name: array} of an events-RNN musiczoo model (the names
    Magenta.js reads: basic_lstm_cell/kernel, attention_output_projection, ...)."""
    cell = model.model.cell
    if getattr(model.config, "cell_type", "lstm") != "lstm":
        raise ImportFailure(f"{model.config.name}: Magenta.js runs LSTM cells only; this "
                            f"model's cells are {model.config.cell_type}")
    prefix = "rnn/attention_cell_wrapper/" if cell.attn_length else "rnn/"
    found = {}
    for k, lstm in enumerate(cell.cells):
        name = f"{prefix}multi_rnn_cell/cell_{k}/basic_lstm_cell/"
        found[name + "kernel"], found[name + "bias"] = cell_to_magenta(lstm)
    if cell.attn_length:
        units = list(cell.layer_sizes)
        found[prefix + "kernel"] = cell.input_projection.kernel.numpy()
        found[prefix + "bias"] = cell.input_projection.bias.numpy()
        size = units[-1]
        found[prefix + "attention/attn_w"] = cell.keys.kernel.numpy().reshape(1, 1, size, size)
        found[prefix + "attention/attn_v"] = cell.attn_v.numpy()
        found[prefix + "attention/kernel"] = cell.query.kernel.numpy()[
            state_order(units, False)]
        found[prefix + "attention/bias"] = cell.query.bias.numpy()
        found[prefix + "attention_output_projection/kernel"] = \
            cell.output_projection.kernel.numpy()
        found[prefix + "attention_output_projection/bias"] = cell.output_projection.bias.numpy()
    found["fully_connected/weights"] = model.model.logits.kernel.numpy()
    found["fully_connected/biases"] = model.model.logits.bias.numpy()
    return found
