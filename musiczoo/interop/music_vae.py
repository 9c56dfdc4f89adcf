"""Magenta's MusicVAE checkpoints (TF1 lstm_models.py) <-> musiczoo's MusicVAE, exactly.

Magenta's variables (the names Magenta.js reads too), and what they become here:

- `encoder/cell_k/bidirectional_rnn/{fw,bw}/multi_rnn_cell/cell_0/lstm_cell/{kernel,bias}`:
  layer k of the bidirectional encoder (LSTMBlockCell: one [inputs + units, 4 units]
  matrix, gates i, j, f, o, forget bias 1.0 at run time) -> Keras Bidirectional LSTMs
  (gates i, f, c, o, the 1.0 folded into f's bias).
- `encoder/mu`, `encoder/sigma` {kernel,bias} -> the encoder's mu and sigma (softplus).
- `decoder/multi_rnn_cell/cell_k/lstm_cell/...` (hierarchical: `core_decoder/decoder/...`)
  -> the decoder's LSTM cells, whose input is [previous event, z or the bar's embedding].
- `decoder/z_to_initial_state` (hierarchical: `core_decoder/decoder/z_to_initial_state`)
  -> the initial state: tanh(dense(z)) split per layer, which Magenta orders c, h and
  musiczoo h, c: its columns are reordered.
- `decoder/output_projection` -> the logits.
- `decoder/hierarchical_level_0/cell_k/lstm_cell/...` and `.../initial_state`: the
  conductor (Magenta's hierdec configs run it with zero inputs, as musiczoo does).
"""
import dataclasses
import re

from musiczoo.interop.containers import ImportFailure
from musiczoo.interop.lstm import assign_cell, cell_to_magenta, put, state_order

_ENCODER = re.compile(r"^encoder/cell_(\d+)/bidirectional_rnn/(fw|bw)/multi_rnn_cell/cell_0/"
                      r"(?:lstm_cell|basic_lstm_cell)/(kernel|bias)$")
_CELL = r"multi_rnn_cell/cell_(\d+)/(?:lstm_cell|basic_lstm_cell)/(kernel|bias)$"
_CONDUCTOR = re.compile(r"^decoder/hierarchical_level_0/cell_(\d+)/(?:lstm_cell|basic_lstm_cell)"
                        r"/(kernel|bias)$")


def is_music_vae(variables):
    return any(_ENCODER.match(name) for name in variables) or "encoder/mu/kernel" in variables


def _stack(variables, pattern, where, what):
    found = {}
    for name in variables:
        match = pattern.match(name)
        if match:
            found.setdefault(int(match.group(1)), {})[match.group(2)] = name
    if sorted(found) != list(range(len(found))) or any(len(v) != 2 for v in found.values()):
        raise ImportFailure(f"{where}: the {what} cells are not a complete cell_0..n-1 "
                            f"(kernel and bias each): {sorted(found)}")
    return [(found[k]["kernel"], found[k]["bias"]) for k in range(len(found))]


def _units(variables, pairs):
    return [int(variables[bias].shape[0]) // 4 for _, bias in pairs]


def layout(variables, where):
    """The Magenta MusicVAE the variables describe: encoder layers (fw, bw), decoder
    cells, conductor cells, sizes, and the names of every dense layer."""
    encoder = {}
    for name in variables:
        match = _ENCODER.match(name)
        if match:
            encoder.setdefault(int(match.group(1)), {}).setdefault(match.group(2), {})[
                match.group(3)] = name
    if not encoder or sorted(encoder) != list(range(len(encoder))):
        raise ImportFailure(f"{where}: no Magenta MusicVAE encoder (encoder/cell_0/"
                            "bidirectional_rnn/fw/multi_rnn_cell/cell_0/lstm_cell/kernel ...)")
    for k, sides in encoder.items():
        if set(sides) != {"fw", "bw"} or any(len(v) != 2 for v in sides.values()):
            raise ImportFailure(f"{where}: encoder layer {k} needs fw and bw kernels and biases")
    hierarchical = any(n.startswith("decoder/hierarchical_level_0/") for n in variables)
    core = "core_decoder/decoder/" if hierarchical else "decoder/"
    decoder = _stack(variables, re.compile("^" + re.escape(core) + _CELL), where, "decoder")
    conductor = _stack(variables, _CONDUCTOR, where, "conductor") if hierarchical else []
    dense = {"mu": "encoder/mu", "sigma": "encoder/sigma",
             "initial": core + "z_to_initial_state", "logits": core + "output_projection"}
    if hierarchical:
        dense["conductor_initial"] = "decoder/hierarchical_level_0/initial_state"
    for role, stem in dense.items():
        for part in ("kernel", "bias"):
            if f"{stem}/{part}" not in variables:
                raise ImportFailure(f"{where}: {stem}/{part} missing ({role})")
    if "decoder/hierarchical_level_1/cell_0/lstm_cell/kernel" in variables:
        raise ImportFailure(f"{where}: a conductor of more than one level is not supported")
    known = {n for layer in encoder.values() for side in layer.values() for n in side.values()}
    known |= {n for pair in decoder + conductor for n in pair}
    known |= {f"{stem}/{part}" for stem in dense.values() for part in ("kernel", "bias")}
    unknown = sorted(set(variables) - known)
    if unknown:
        raise ImportFailure(f"{where}: variables this MusicVAE import does not know: "
                            f"{', '.join(unknown[:8])}{' ...' if len(unknown) > 8 else ''} "
                            "(NADE decoders, multi-track and chord-conditioned models are not "
                            "supported yet)")
    encoder_pairs = [(encoder[k]["fw"]["kernel"], encoder[k]["fw"]["bias"],
                      encoder[k]["bw"]["kernel"], encoder[k]["bw"]["bias"])
                     for k in range(len(encoder))]
    return {"encoder": encoder_pairs,
            "enc_units": [int(variables[p[1]].shape[0]) // 4 for p in encoder_pairs],
            "decoder": decoder, "dec_units": _units(variables, decoder),
            "conductor": conductor, "conductor_units": _units(variables, conductor),
            "dense": dense, "z_size": int(variables["encoder/mu/bias"].shape[0]),
            "num_classes": int(variables[dense["logits"] + "/bias"].shape[0]),
            "input_width": int(variables[encoder_pairs[0][0]].shape[0] -
                               variables[encoder_pairs[0][1]].shape[0] // 4)}


def fit_config(config, plan, where):
    """`config` with the checkpoint's sizes, after checking its classes agree."""
    if config.cell_type != "lstm":
        raise ImportFailure(f"{where}: Magenta's MusicVAE cells are LSTMs; cell_type="
                            f"{config.cell_type} cannot hold their weights")
    changes = {"enc_rnn_size": tuple(plan["enc_units"]), "dec_rnn_size": tuple(plan["dec_units"]),
               "z_size": plan["z_size"]}
    if bool(plan["conductor"]) != config.hierarchical:
        raise ImportFailure(f"{where}: the checkpoint's decoder is "
                            f"{'hierarchical' if plan['conductor'] else 'flat'}; {config.name}'s "
                            f"is {'hierarchical' if config.hierarchical else 'flat'} (pass the "
                            "--config it was trained with)")
    if plan["conductor"]:
        changes["conductor_rnn_size"] = tuple(plan["conductor_units"])
    config = dataclasses.replace(config, **changes)
    classes = config.codec().num_classes
    if plan["num_classes"] != classes:
        raise ImportFailure(f"{where}: {plan['dense']['logits']}/bias has "
                            f"{plan['num_classes']} classes; {config.name} has {classes}")
    return config


def _dense(layer, variables, stem, where, columns=None):
    kernel, bias = variables[stem + "/kernel"], variables[stem + "/bias"]
    if columns is not None:
        kernel, bias = kernel[:, columns], bias[columns]
    put(layer.kernel, kernel, stem + "/kernel", where)
    put(layer.bias, bias, stem + "/bias", where)


def assign(model, variables, plan, where):
    network = model.model
    encoder, decoder = network.encoder, network.decoder
    for rnn, (fk, fb, bk, bb) in zip(encoder.rnns, plan["encoder"]):
        assign_cell(rnn.forward_layer.cell, variables, fk, fb, where)
        assign_cell(rnn.backward_layer.cell, variables, bk, bb, where)
    _dense(encoder.mu, variables, plan["dense"]["mu"], where)
    _dense(encoder.sigma, variables, plan["dense"]["sigma"], where)
    for cell, (kernel, bias) in zip(decoder.cell.cells, plan["decoder"]):
        assign_cell(cell, variables, kernel, bias, where)
    _dense(decoder.initial, variables, plan["dense"]["initial"], where,
           state_order(plan["dec_units"], True))
    _dense(decoder.cell.logits, variables, plan["dense"]["logits"], where)
    if plan["conductor"]:
        for cell, (kernel, bias) in zip(decoder.conductor_cells, plan["conductor"]):
            assign_cell(cell, variables, kernel, bias, where)
        _dense(decoder.conductor_initial, variables, plan["dense"]["conductor_initial"], where,
               state_order(plan["conductor_units"], True))


def to_magenta(model):
    """{Magenta variable name: array} of a musiczoo MusicVAE (Magenta.js's names)."""
    if model.config.cell_type != "lstm":
        raise ImportFailure(f"{model.config.name}: Magenta.js runs LSTM cells only; this "
                            f"model's cells are {model.config.cell_type}")
    network = model.model
    encoder, decoder = network.encoder, network.decoder
    found = {}
    for k, rnn in enumerate(encoder.rnns):
        for side, layer in (("fw", rnn.forward_layer), ("bw", rnn.backward_layer)):
            stem = f"encoder/cell_{k}/bidirectional_rnn/{side}/multi_rnn_cell/cell_0/lstm_cell/"
            found[stem + "kernel"], found[stem + "bias"] = cell_to_magenta(layer.cell)
    for role, layer in (("mu", encoder.mu), ("sigma", encoder.sigma)):
        found[f"encoder/{role}/kernel"] = layer.kernel.numpy()
        found[f"encoder/{role}/bias"] = layer.bias.numpy()
    core = "core_decoder/decoder/" if decoder.conductor_sizes else "decoder/"
    for k, cell in enumerate(decoder.cell.cells):
        stem = f"{core}multi_rnn_cell/cell_{k}/lstm_cell/"
        found[stem + "kernel"], found[stem + "bias"] = cell_to_magenta(cell)
    columns = state_order(decoder.layer_sizes, False)
    found[core + "z_to_initial_state/kernel"] = decoder.initial.kernel.numpy()[:, columns]
    found[core + "z_to_initial_state/bias"] = decoder.initial.bias.numpy()[columns]
    found[core + "output_projection/kernel"] = decoder.cell.logits.kernel.numpy()
    found[core + "output_projection/bias"] = decoder.cell.logits.bias.numpy()
    if decoder.conductor_sizes:
        for k, cell in enumerate(decoder.conductor_cells):
            stem = f"decoder/hierarchical_level_0/cell_{k}/lstm_cell/"
            found[stem + "kernel"], found[stem + "bias"] = cell_to_magenta(cell)
        columns = state_order(decoder.conductor_sizes, False)
        stem = "decoder/hierarchical_level_0/initial_state/"
        found[stem + "kernel"] = decoder.conductor_initial.kernel.numpy()[:, columns]
        found[stem + "bias"] = decoder.conductor_initial.bias.numpy()[columns]
    return found
