"""One compiled sampling loop (temperature, top-k, beam search) for every autoregressive family.

A family supplies three small functions and this module runs the whole generation (primer
feed, sampling, beam pruning) inside one `tf.function` built on `tf.while_loop`: an eager
per-step loop pays Python and op-dispatch overhead on every event, which was measured to
dominate small RNN steps (~23x), and `model.predict` per step is far worse (~100 ms a call).

    ids, log_likelihood = sample(step_fn, initial_state, input_fn, resolve_fn, primer_ids, 128,
                                 temperature=1.0, seed=7)

- `step_fn(inputs [R, D], state) -> (logits [R, C], new_state)`: one model step, no dropout.
- `input_fn(history [R, T], length) -> [R, D]`: the model input for the event at `length - 1`.
- `resolve_fn(labels [R], history, length) -> ids [R]`: a sampled class as the event id that
  is appended (identity for plain codecs; lookback codecs resolve "repeat" classes here).

A `Sampler` holds one model's three functions and its compiled loops (one per static
setting: top_k and the beam settings); a model keeps its own Sampler, so the loops live and
die with the model (no module-level cache keeps models alive). Everything numeric
(num_steps, temperature, seed) and the batch/primer shapes are traced generically, so
changing them does not retrace. Variables used by `step_fn` must already exist (build the
model before sampling). `sample(...)`, the function, makes a throwaway Sampler: fine for
one call, a retrace (seconds) on every call.

Beam search follows Magenta's `magenta/common/beam_search.py`: the beam starts as `beam_size`
copies of the primed state, every beam is extended into `branch_factor` branches by
`steps_per_iteration` sampled steps, the `beam_size` best branches (total log-likelihood)
survive, and the best one is returned. As in Magenta the *first* iteration is the shorter one
when `num_steps` is not a multiple of `steps_per_iteration` (so every later iteration looks
ahead the full number of steps before being pruned). Here all of it runs on one flat batch of
B * beam_size * branch_factor rows (row = output * rows_per_output + branch), and pruning
gathers the history, scores, pending logits and every state tensor.
"""
import secrets

import tensorflow as tf


class Sampler:
    """One model's sampling: its step, input and resolve functions and the compiled loops
    made from them, one per (top_k, beam_size, branch_factor, steps_per_iteration)."""

    def __init__(self, step_fn, input_fn, resolve_fn, bias_fn=None):
        self.functions = (step_fn, input_fn, resolve_fn)
        self.bias_fn = bias_fn
        self.loops = {}

    def loop(self, top_k=0, beam_size=1, branch_factor=1, steps_per_iteration=1,
             controlled=False):
        """The compiled tf.function for these static settings (made on first use)."""
        key = (int(top_k), int(beam_size), int(branch_factor), int(steps_per_iteration),
               bool(controlled))
        if key not in self.loops:
            bias_fn = self.bias_fn if controlled else None
            self.loops[key] = tf.function(_make_loop(*self.functions, *key[:4], bias_fn),
                                          reduce_retracing=True)
        return self.loops[key]

    def sample(self, initial_state, primer_ids, num_steps, *, temperature=1.0, top_k=0,
               seed=None, beam_size=1, branch_factor=1, steps_per_iteration=1,
               controls=None):
        """`sample` (the function) with this Sampler's functions and loops. `controls`: the
        tensors of a controls plan (musiczoo.controls.masks.Plan.tensors()), whose bias
        `bias_fn` adds to the logits of every sampled step."""
        primer, initial_state = _validate(initial_state, primer_ids, num_steps, temperature,
                                          top_k, seed, beam_size, branch_factor,
                                          steps_per_iteration)
        if controls is not None and self.bias_fn is None:
            raise ValueError("this sampler has no bias function: it cannot apply controls")
        if seed is None:
            seed = secrets.randbits(63)
        loop = self.loop(top_k, beam_size, branch_factor, steps_per_iteration,
                         controls is not None)
        args = (primer, initial_state, tf.constant(int(num_steps), tf.int32),
                tf.constant(float(temperature), tf.float32), tf.constant(int(seed), tf.int64))
        return loop(*args, controls) if controls is not None else loop(*args)


def sample(step_fn, initial_state, input_fn, resolve_fn, primer_ids, num_steps, *,
           temperature=1.0, top_k=0, seed=None, beam_size=1, branch_factor=1,
           steps_per_iteration=1):
    """Returns (ids int32 [B, P + num_steps], log_likelihood float32 [B]).

    `primer_ids` int32 [B, P] (P >= 1) is fed through the model first and kept verbatim at
    the start of `ids`; its events are not scored. Each new event is drawn from
    softmax(logits / temperature), restricted to the `top_k` largest logits when top_k > 0,
    and scores its log-probability under the tempered softmax over all classes (Magenta's
    score; with top_k it is not renormalised, so top_k=1 still reports the model's
    likelihood of the greedy path). `seed` (int) makes the result reproducible across calls
    and processes; None draws a fresh one. beam_size=1 with branch_factor=1 is plain
    sampling; see the module docstring for beam search.
    """
    return Sampler(step_fn, input_fn, resolve_fn).sample(
        initial_state, primer_ids, num_steps, temperature=temperature, top_k=top_k, seed=seed,
        beam_size=beam_size, branch_factor=branch_factor,
        steps_per_iteration=steps_per_iteration)


def _validate(initial_state, primer_ids, num_steps, temperature, top_k, seed, beam_size,
              branch_factor, steps_per_iteration):
    for name, value in (("num_steps", num_steps), ("beam_size", beam_size),
                        ("branch_factor", branch_factor),
                        ("steps_per_iteration", steps_per_iteration)):
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if isinstance(top_k, bool) or int(top_k) != top_k or top_k < 0:
        raise ValueError(f"top_k must be an integer >= 0 (0 = no restriction), got {top_k!r}")
    if not temperature > 0:  # also rejects NaN
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    if seed is not None and (isinstance(seed, bool) or int(seed) != seed
                             or not -2**63 <= int(seed) < 2**63):
        raise ValueError(f"seed must be None or a 64-bit integer, got {seed!r}")
    primer = tf.convert_to_tensor(primer_ids)
    if not (primer.dtype.is_integer):
        raise ValueError(f"primer_ids must be integer ids, got dtype {primer.dtype.name}")
    if primer.shape.rank != 2:
        raise ValueError(f"primer_ids must be 2-D [batch, primer_length], got shape {primer.shape}")
    if primer.shape[0] == 0 or primer.shape[1] == 0:
        raise ValueError("primer_ids is empty: give every output at least one primer event "
                         f"(shape {primer.shape})")
    batch = primer.shape[0]
    state = tf.nest.map_structure(tf.convert_to_tensor, initial_state)
    for tensor in tf.nest.flatten(state):
        if tensor.shape.rank == 0 or tensor.shape[0] != batch:
            raise ValueError(f"every initial_state tensor must have batch size {batch} "
                             f"(primer_ids rows) as its first dimension, got {tensor.shape}")
    return tf.cast(primer, tf.int32), state


def _draw(scaled, top_k, step_seed):
    """One label per row from softmax(scaled), optionally among the top_k logits only."""
    if top_k:
        k = tf.minimum(top_k, tf.shape(scaled)[1])
        values, indices = tf.math.top_k(scaled, k=k)
        choice = tf.random.stateless_categorical(values, 1, step_seed, dtype=tf.int32)[:, 0]
        return tf.gather(indices, choice, batch_dims=1)
    return tf.random.stateless_categorical(scaled, 1, step_seed, dtype=tf.int32)[:, 0]


def _batch_relaxed(shape):
    """Loop shape invariant: the batch changes when beams are tiled, so leave it open."""
    if shape.rank is None:
        return shape
    return tf.TensorShape([None] + shape.as_list()[1:])


def _make_loop(step_fn, input_fn, resolve_fn, top_k, beam_size, branch_factor,
               steps_per_iteration, bias_fn=None):
    rows = beam_size * branch_factor  # rows per output in the flat batch
    prunes = branch_factor > 1  # with one branch per beam, pruning K of K is a no-op

    def model_step(history, length, state):
        logits, new_state = step_fn(input_fn(history, length), state)
        # Same nesting as the loop variable (a cell may return a tuple for a list).
        new_state = tf.nest.pack_sequence_as(state, tf.nest.flatten(new_state))
        return tf.cast(logits, tf.float32), new_state

    def run(primer, state, num_steps, temperature, seed, controls=None):
        batch = tf.shape(primer)[0]
        primer_len = tf.shape(primer)[1]
        total = primer_len + num_steps
        history = tf.pad(primer, [[0, 0], [0, num_steps]])

        # Primer feed. Step 1 runs outside the loop to give the logits a shape, and to see
        # which state dims change per step (a transformer's growing cache): those are left
        # open in the invariants, everything else stays static for the kernels.
        logits, fed_state = model_step(history, tf.constant(1), state)
        state_shapes = tf.nest.map_structure(
            lambda before, after: _batch_relaxed(
                before.shape.most_specific_compatible_shape(after.shape)),
            state, fed_state)
        logits_shape = _batch_relaxed(logits.shape)

        def feed(t, logits, state):
            logits, state = model_step(history, t + 1, state)
            return t + 1, logits, state

        _, logits, state = tf.while_loop(
            lambda t, *_: t < primer_len, feed, (tf.constant(1), logits, fed_state),
            shape_invariants=(tf.TensorShape([]), logits_shape, state_shapes))

        if rows > 1:  # every output's primed row becomes its beam_size * branch_factor rows
            tile = lambda x: tf.repeat(x, rows, axis=0)  # noqa: E731
            history, logits = tile(history), tile(logits)
            state = tf.nest.map_structure(tile, state)
        scores = tf.zeros([batch * rows], tf.float32)

        # Magenta runs the short iteration first, then prunes before every later one.
        first_len = (num_steps - 1) % steps_per_iteration + 1

        def prune(history, scores, logits, state):
            _, best = tf.math.top_k(tf.reshape(scores, [batch, rows]), k=beam_size)
            # Branch f of beam k goes to column f * beam_size + k: each survivor, F times.
            best = tf.tile(best, [1, branch_factor]) + tf.range(batch)[:, None] * rows
            take = lambda x: tf.gather(x, tf.reshape(best, [-1]))  # noqa: E731
            return (take(history), take(scores), take(logits),
                    tf.nest.map_structure(take, state))

        def sample_and_write(s, history, scores, logits, state):
            if prunes:
                due = (s >= first_len) & ((s - first_len) % steps_per_iteration == 0)
                history, scores, logits, state = tf.cond(
                    due, lambda: prune(history, scores, logits, state),
                    lambda: (history, scores, logits, state))
            scaled = logits / temperature
            if bias_fn is not None:  # controls: forbidden classes, forced events, steering
                scaled += bias_fn(controls, history, primer_len + s)
            # Stateless draws from (seed, step): reproducible anywhere, independent of how
            # many random ops ran before, and every row of the batch gets its own draw.
            labels = _draw(scaled, top_k, tf.stack([seed, tf.cast(s, tf.int64)]))
            scores += tf.gather(tf.nn.log_softmax(scaled), labels, batch_dims=1)
            length = primer_len + s
            ids = tf.cast(resolve_fn(labels, history, length), tf.int32)
            history = tf.where(tf.range(total)[None, :] == length, ids[:, None], history)
            return history, scores, state

        def generate(s, history, scores, logits, state):
            history, scores, state = sample_and_write(s, history, scores, logits, state)
            logits, state = model_step(history, primer_len + s + 1, state)
            return s + 1, history, scores, logits, state

        # num_steps - 1 sample+step iterations, then a last sample with no model step after
        # it (its logits would never be used).
        s, history, scores, logits, state = tf.while_loop(
            lambda s, *_: s < num_steps - 1, generate,
            (tf.constant(0), history, scores, logits, state),
            shape_invariants=(tf.TensorShape([]), tf.TensorShape([None, None]),
                              tf.TensorShape([None]), logits_shape, state_shapes))
        history, scores, _ = sample_and_write(s, history, scores, logits, state)

        if rows > 1:  # per output, the row with the highest total log-likelihood
            # top_k, not argmax: it documents that ties go to the lower index.
            best = tf.math.top_k(tf.reshape(scores, [batch, rows]), k=1).indices[:, 0]
            best += tf.range(batch) * rows
            history, scores = tf.gather(history, best), tf.gather(scores, best)
        return history, scores

    return run
