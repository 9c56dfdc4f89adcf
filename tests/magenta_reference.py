"""An independent numpy implementation of Magenta's events-RNN graph, and the files
Magenta wrote, for the import tests.

Written from the semantics of TF1's BasicLSTMCell (one matrix over [x, h], gates i, j, f,
o, forget bias 1.0 added at run time), MultiRNNCell, tf.contrib.rnn.AttentionCellWrapper
(input projection of [x, attention], a 1x1-conv key, a query from the flattened state
c_1, h_1, c_2, h_2, ..., output projection of [output, attention], the window shifted)
and tf.contrib.layers.linear ("fully_connected"). It shares no code with musiczoo.
Checkpoints are written by TensorFlow's own tf.compat.v1 Saver (V1 single file, as in a
.mag, and V2 index + data, as training wrote), with Adam slots and global_step beside
the weights as in a real training checkpoint.
"""
import os

import numpy as np


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def magenta_variables(layer_sizes, input_width, num_classes, attention=False, seed=0,
                      cell_name="basic_lstm_cell", kernel="kernel", bias="bias"):
    """Random weights under Magenta's names and shapes (float32)."""
    rng = np.random.default_rng(seed)
    prefix = "rnn/attention_cell_wrapper/" if attention else "rnn/"
    found = {}
    width = input_width
    for k, units in enumerate(layer_sizes):
        name = f"{prefix}multi_rnn_cell/cell_{k}/{cell_name}/"
        found[name + kernel] = rng.normal(0, 0.3, (width + units, 4 * units))
        found[name + bias] = rng.normal(0, 0.3, (4 * units,))
        width = units
    size = layer_sizes[-1]
    if attention:
        found[prefix + kernel] = rng.normal(0, 0.3, (input_width + size, input_width))
        found[prefix + bias] = rng.normal(0, 0.3, (input_width,))
        found[prefix + "attention/attn_w"] = rng.normal(0, 0.3, (1, 1, size, size))
        found[prefix + "attention/attn_v"] = rng.normal(0, 0.3, (size,))
        found[prefix + "attention/" + kernel] = rng.normal(0, 0.3, (2 * sum(layer_sizes), size))
        found[prefix + "attention/" + bias] = rng.normal(0, 0.3, (size,))
        found[prefix + "attention_output_projection/" + kernel] = rng.normal(
            0, 0.3, (2 * size, size))
        found[prefix + "attention_output_projection/" + bias] = rng.normal(0, 0.3, (size,))
    found["fully_connected/weights"] = rng.normal(0, 0.3, (size, num_classes))
    found["fully_connected/biases"] = rng.normal(0, 0.3, (num_classes,))
    return {name: value.astype(np.float32) for name, value in found.items()}


def magenta_logits(variables, inputs, layer_sizes, attn_length=0, cell_name="basic_lstm_cell",
                   kernel="kernel", bias="bias"):
    """Logits [T, classes] of Magenta's graph over inputs [T, input_width] (batch 1),
    in float64."""
    v = {name: np.asarray(value, np.float64) for name, value in variables.items()}
    prefix = "rnn/attention_cell_wrapper/" if attn_length else "rnn/"
    c = [np.zeros(u) for u in layer_sizes]
    h = [np.zeros(u) for u in layer_sizes]
    size = layer_sizes[-1]
    attns, window = np.zeros(size), np.zeros((attn_length, size))
    logits = []
    for x in np.asarray(inputs, np.float64):
        if attn_length:
            x = np.concatenate([x, attns]) @ v[prefix + kernel] + v[prefix + bias]
        for k in range(len(layer_sizes)):
            name = f"{prefix}multi_rnn_cell/cell_{k}/{cell_name}/"
            gates = np.concatenate([x, h[k]]) @ v[name + kernel] + v[name + bias]
            i, j, f, o = np.split(gates, 4)
            c[k] = c[k] * _sigmoid(f + 1.0) + _sigmoid(i) * np.tanh(j)
            h[k] = np.tanh(c[k]) * _sigmoid(o)
            x = h[k]
        output = x
        if attn_length:
            query = np.concatenate([part for k in range(len(layer_sizes))
                                    for part in (c[k], h[k])])
            features = window @ v[prefix + "attention/attn_w"][0, 0]
            y = query @ v[prefix + "attention/" + kernel] + v[prefix + "attention/" + bias]
            scores = (v[prefix + "attention/attn_v"] * np.tanh(features + y)).sum(-1)
            weights = np.exp(scores - scores.max())
            weights /= weights.sum()
            attns = (weights[:, None] * window).sum(0)
            output = np.concatenate([output, attns]) @ \
                v[prefix + "attention_output_projection/" + kernel] + \
                v[prefix + "attention_output_projection/" + bias]
            window = np.concatenate([window[1:], output[None]], 0)
        logits.append(output @ v["fully_connected/weights"] + v["fully_connected/biases"])
    return np.stack(logits)


def write_checkpoint(variables, prefix, version=1, with_slots=True):
    """Saves the variables (plus Adam slots, beta powers and global_step) with TF's
    tf.compat.v1 Saver; returns the path (V1: one file; V2: the prefix)."""
    import tensorflow as tf
    tf1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        made = []
        for name, value in variables.items():
            made.append(tf1.Variable(value, name=name))
            if with_slots:
                tf1.Variable(np.zeros_like(value), name=name + "/Adam")
                tf1.Variable(np.zeros_like(value), name=name + "/Adam_1")
        if with_slots:
            tf1.Variable(0.9, name="beta1_power")
            tf1.Variable(0.999, name="beta2_power")
            tf1.train.get_or_create_global_step()
        write_version = tf1.train.SaverDef.V1 if version == 1 else tf1.train.SaverDef.V2
        saver = tf1.train.Saver(sharded=False, write_version=write_version)
        os.makedirs(os.path.dirname(prefix) or ".", exist_ok=True)
        with tf1.Session(graph=graph) as session:
            session.run(tf1.global_variables_initializer())
            return saver.save(session, prefix, write_meta_graph=False)


def write_mag(path, generator_id, variables, tmp_dir):
    """A .mag as Magenta's create_bundle_file wrote it: generator id and description,
    one V1 checkpoint file, and a metagraph (here bytes that must never be parsed)."""
    from note_seq.protobuf import generator_pb2
    checkpoint = write_checkpoint(variables, os.path.join(tmp_dir, "mag", "model.ckpt"), 1)
    bundle = generator_pb2.GeneratorBundle()
    bundle.generator_details.id = generator_id
    bundle.generator_details.description = f"Magenta {generator_id} (test fixture)"
    bundle.bundle_details.description = "made by tests/magenta_reference.py"
    with open(checkpoint, "rb") as f:
        bundle.checkpoint_file.append(f.read())
    bundle.metagraph_file = b"\x00not a metagraph: importing it would fail"
    with open(path, "wb") as f:
        f.write(bundle.SerializeToString())
    return path


# -- MusicVAE (magenta/models/music_vae/lstm_models.py) ---------------------------------

def _lstm_step(kernel, bias, x, c, h):
    gates = np.concatenate([x, h]) @ kernel + bias
    i, j, f, o = np.split(gates, 4)
    c = c * _sigmoid(f + 1.0) + _sigmoid(i) * np.tanh(j)
    return c, np.tanh(c) * _sigmoid(o)


def vae_variables(enc_sizes, dec_sizes, z_size, input_width, num_classes, conductor=(),
                  seed=0):
    """Random MusicVAE weights under Magenta's names (LSTMBlockCell: lstm_cell)."""
    rng = np.random.default_rng(seed)
    found = {}

    def lstm(stem, inputs, units):
        found[stem + "kernel"] = rng.normal(0, 0.3, (inputs + units, 4 * units))
        found[stem + "bias"] = rng.normal(0, 0.3, (4 * units,))

    width = input_width
    for k, units in enumerate(enc_sizes):
        for side in ("fw", "bw"):
            lstm(f"encoder/cell_{k}/bidirectional_rnn/{side}/multi_rnn_cell/cell_0/lstm_cell/",
                 width, units)
        width = 2 * units
    for role in ("mu", "sigma"):
        found[f"encoder/{role}/kernel"] = rng.normal(0, 0.1, (width, z_size))
        found[f"encoder/{role}/bias"] = rng.normal(0, 0.1, (z_size,))
    core, embedding = ("core_decoder/decoder/", conductor[-1]) if conductor else \
        ("decoder/", z_size)
    if conductor:
        width = 1
        for k, units in enumerate(conductor):
            lstm(f"decoder/hierarchical_level_0/cell_{k}/lstm_cell/", width, units)
            width = units
        found["decoder/hierarchical_level_0/initial_state/kernel"] = rng.normal(
            0, 0.3, (z_size, 2 * sum(conductor)))
        found["decoder/hierarchical_level_0/initial_state/bias"] = rng.normal(
            0, 0.3, (2 * sum(conductor),))
    width = num_classes + embedding
    for k, units in enumerate(dec_sizes):
        lstm(f"{core}multi_rnn_cell/cell_{k}/lstm_cell/", width, units)
        width = units
    found[core + "z_to_initial_state/kernel"] = rng.normal(0, 0.3, (embedding, 2 * sum(dec_sizes)))
    found[core + "z_to_initial_state/bias"] = rng.normal(0, 0.3, (2 * sum(dec_sizes),))
    found[core + "output_projection/kernel"] = rng.normal(0, 0.3, (dec_sizes[-1], num_classes))
    found[core + "output_projection/bias"] = rng.normal(0, 0.3, (num_classes,))
    return {name: value.astype(np.float32) for name, value in found.items()}


def _initial_state(kernel, bias, embedding, sizes):
    flat = np.tanh(embedding @ kernel + bias)
    c, h, offset = [], [], 0
    for units in sizes:     # Magenta: LSTMStateTuple(c, h) per layer, flattened
        c.append(flat[offset:offset + units])
        h.append(flat[offset + units:offset + 2 * units])
        offset += 2 * units
    return c, h


def vae_forward(variables, encoder_inputs, targets, num_classes, segment_steps=None):
    """(mu, sigma, teacher-forced logits [T, C] decoded from z = mu) of one window."""
    v = {name: np.asarray(value, np.float64) for name, value in variables.items()}
    x = np.asarray(encoder_inputs, np.float64)
    k = 0
    while f"encoder/cell_{k}/bidirectional_rnn/fw/multi_rnn_cell/cell_0/lstm_cell/kernel" in v:
        outputs = {}
        for side, order in (("fw", range(len(x))), ("bw", reversed(range(len(x))))):
            stem = f"encoder/cell_{k}/bidirectional_rnn/{side}/multi_rnn_cell/cell_0/lstm_cell/"
            units = v[stem + "bias"].shape[0] // 4
            c, h = np.zeros(units), np.zeros(units)
            out = np.zeros((len(x), units))
            for t in order:
                c, h = _lstm_step(v[stem + "kernel"], v[stem + "bias"], x[t], c, h)
                out[t] = h
            outputs[side] = (out, h)
        x = np.concatenate([outputs["fw"][0], outputs["bw"][0]], axis=1)
        final = np.concatenate([outputs["fw"][1], outputs["bw"][1]])
        k += 1
    mu = final @ v["encoder/mu/kernel"] + v["encoder/mu/bias"]
    sigma = np.log1p(np.exp(final @ v["encoder/sigma/kernel"] + v["encoder/sigma/bias"]))
    hierarchical = "decoder/hierarchical_level_0/initial_state/kernel" in v
    core = "core_decoder/decoder/" if hierarchical else "decoder/"
    layers = 0
    while f"{core}multi_rnn_cell/cell_{layers}/lstm_cell/kernel" in v:
        layers += 1
    sizes = [v[f"{core}multi_rnn_cell/cell_{n}/lstm_cell/bias"].shape[0] // 4
             for n in range(layers)]
    steps = len(targets)
    segment_steps = segment_steps or steps
    if hierarchical:
        stem = "decoder/hierarchical_level_0/"
        count = 0
        while f"{stem}cell_{count}/lstm_cell/kernel" in v:
            count += 1
        conductor_sizes = [v[f"{stem}cell_{n}/lstm_cell/bias"].shape[0] // 4
                           for n in range(count)]
        cc, ch = _initial_state(v[stem + "initial_state/kernel"], v[stem + "initial_state/bias"],
                                mu, conductor_sizes)
        embeddings = []
        for _ in range(steps // segment_steps):
            inp = np.zeros(1)
            for n in range(count):
                cc[n], ch[n] = _lstm_step(v[f"{stem}cell_{n}/lstm_cell/kernel"],
                                          v[f"{stem}cell_{n}/lstm_cell/bias"], inp, cc[n], ch[n])
                inp = ch[n]
            embeddings.append(inp)
    else:
        embeddings = [mu]
    logits = []
    previous = np.zeros(num_classes)
    for s, embedding in enumerate(embeddings):
        c, h = _initial_state(v[core + "z_to_initial_state/kernel"],
                              v[core + "z_to_initial_state/bias"], embedding, sizes)
        for t in range(s * segment_steps, (s + 1) * segment_steps):
            inp = np.concatenate([previous, embedding])
            for n in range(layers):
                stem = f"{core}multi_rnn_cell/cell_{n}/lstm_cell/"
                c[n], h[n] = _lstm_step(v[stem + "kernel"], v[stem + "bias"], inp, c[n], h[n])
                inp = h[n]
            logits.append(inp @ v[core + "output_projection/kernel"] +
                          v[core + "output_projection/bias"])
            previous = np.eye(num_classes)[targets[t]]
    return mu, sigma, np.stack(logits)
