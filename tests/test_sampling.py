"""The compiled sampling loop against hand-made models with known answers, a real tiny Keras
LSTM, and an eager per-step reference loop written here from the documented semantics."""
import json
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from musiczoo import runtime

runtime.configure_threads(2)  # no-op (kept) if earlier tests already started TF

import keras  # noqa: E402

from musiczoo import sampling  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
C = 12  # classes of the LSTM and "+1" models


def identity_resolve(labels, history, length):
    return labels


def one_hot_input(classes):
    def input_fn(history, length):
        return tf.one_hot(history[:, length - 1], classes)
    return input_fn


one_hot_c = one_hot_input(C)


# --- models ------------------------------------------------------------------------------

class TinyLSTM:
    """LSTMCell(16) + Dense(C): the shape of a real family's step, with fixed weights."""

    def __init__(self):
        init = lambda seed: keras.initializers.RandomNormal(stddev=0.7, seed=seed)  # noqa: E731
        self.cell = keras.layers.LSTMCell(16, kernel_initializer=init(1),
                                          recurrent_initializer=init(2))
        self.dense = keras.layers.Dense(C, kernel_initializer=init(3))
        self.cell.build((None, C))
        self.dense.build((None, 16))

    def step(self, inputs, state):
        output, state = self.cell(inputs, state)
        return self.dense(output), state

    def initial_state(self, batch):
        return [tf.zeros([batch, 16]), tf.zeros([batch, 16])]


@pytest.fixture(scope="module")
def lstm():
    return TinyLSTM()


def plus_one_step(inputs, state):
    """Strongly prefers `last id + 1 mod C` (margin 8 nats); the state counts steps."""
    logits = 8.0 * tf.roll(inputs, shift=1, axis=1)
    return logits, [state[0] + 1.0]


def table_step_fn(log_probs):
    """A Markov model: logits = log_probs[last id] (the input is the last id one-hot)."""
    table = tf.constant(log_probs, tf.float32)

    def step_fn(inputs, state):
        return tf.matmul(inputs, table), state
    return step_fn


def trap_table():
    """From 0: A (id 1, p=.6) is followed by one of 16 equally likely ids (3..18), then a
    certain return to 0; B (id 2, p=.4) by a certain return to 0. Greedy takes A: cycle
    A,x,0 costs log .6 + log 1/16 = -3.28 per 3 steps (-1.09/step); B,0 costs log .4 =
    -0.92 per 2 steps (-0.46/step), the best path."""
    table = np.full((20, 20), -30.0)
    table[0, 1], table[0, 2] = math.log(0.6), math.log(0.4)
    table[1, 3:19] = math.log(1 / 16)
    table[2:, 0] = 0.0
    return table


trap_step = table_step_fn(trap_table())
trap_input = one_hot_input(20)
random_table_step = table_step_fn(np.random.default_rng(0).normal(size=(C, C)))


def no_state(batch):
    return [tf.zeros([batch, 1])]


# --- eager reference ---------------------------------------------------------------------

def reference_sample(step_fn, state, input_fn, resolve_fn, primer, num_steps, temperature=1.0,
                     top_k=0, seed=0, beam_size=1, branch_factor=1, steps_per_iteration=1):
    """The documented semantics, one eager step_fn call per event (Magenta's way)."""
    primer = np.asarray(primer, np.int32)
    batch, primer_len = primer.shape
    history = np.zeros([batch, primer_len + num_steps], np.int32)
    history[:, :primer_len] = primer
    for t in range(1, primer_len + 1):
        logits, state = step_fn(input_fn(tf.constant(history), t), state)
    rows = beam_size * branch_factor
    history = np.repeat(history, rows, axis=0)
    logits = np.repeat(logits.numpy(), rows, axis=0)
    state = [np.repeat(np.asarray(s), rows, axis=0) for s in state]
    scores = np.zeros(batch * rows, np.float32)
    first_len = (num_steps - 1) % steps_per_iteration + 1
    for s in range(num_steps):
        if branch_factor > 1 and s >= first_len and (s - first_len) % steps_per_iteration == 0:
            keep = []
            for b in range(batch):
                best = np.argsort(-scores[b * rows:(b + 1) * rows], kind="stable")[:beam_size]
                keep.extend(list(best + b * rows) * branch_factor)
            history, scores, logits = history[keep], scores[keep], logits[keep]
            state = [x[keep] for x in state]
        scaled = tf.constant(logits) / temperature
        step_seed = tf.constant([seed, s], tf.int64)
        if top_k:
            values, indices = tf.math.top_k(scaled, k=min(top_k, scaled.shape[1]))
            choice = tf.random.stateless_categorical(values, 1, step_seed, dtype=tf.int32)
            labels = tf.gather(indices, choice[:, 0], batch_dims=1).numpy()
        else:
            labels = tf.random.stateless_categorical(scaled, 1, step_seed,
                                                     dtype=tf.int32)[:, 0].numpy()
        log_probs = tf.nn.log_softmax(scaled).numpy()
        scores += log_probs[np.arange(len(labels)), labels]
        length = primer_len + s
        history[:, length] = resolve_fn(tf.constant(labels), tf.constant(history), length)
        logits, state = step_fn(input_fn(tf.constant(history), length + 1), state)
        logits, state = logits.numpy(), [np.asarray(x) for x in state]
    best = [b * rows + int(np.argmax(scores[b * rows:(b + 1) * rows])) for b in range(batch)]
    return history[best], scores[best]


def rescore(step_fn, state, input_fn, ids, primer_len, temperature):
    """Sum of the tempered log-probs of ids[:, P:], recomputed by feeding ids eagerly."""
    ids = tf.constant(ids)
    total = np.zeros(ids.shape[0], np.float32)
    for t in range(1, ids.shape[1]):
        logits, state = step_fn(input_fn(ids, t), state)
        if t >= primer_len:
            log_probs = tf.nn.log_softmax(logits / temperature).numpy()
            total += log_probs[np.arange(ids.shape[0]), ids[:, t].numpy()]
    return total


# --- tests -------------------------------------------------------------------------------

def test_shapes_primer_kept_and_ids_in_range(lstm):
    primer = [[1, 2, 3], [4, 5, 6], [7, 8, 9], [0, 0, 0], [11, 10, 9]]
    ids, ll = sampling.sample(lstm.step, lstm.initial_state(5), one_hot_c, identity_resolve,
                              primer, 17, seed=1)
    assert ids.dtype == tf.int32 and ids.shape == (5, 20)
    assert ll.dtype == tf.float32 and ll.shape == (5,)
    np.testing.assert_array_equal(ids[:, :3], primer)
    assert np.all((ids.numpy() >= 0) & (ids.numpy() < C))
    assert np.all(np.isfinite(ll)) and np.all(ll.numpy() < 0)


def test_low_temperature_follows_the_argmax_chain():
    primer = [[3], [11], [5]]
    ids, ll = sampling.sample(plus_one_step, no_state(3), one_hot_c, identity_resolve, primer, 30,
                              temperature=0.05, seed=0)
    expected = (np.asarray(primer) + np.arange(31)) % C
    np.testing.assert_array_equal(ids, expected)
    np.testing.assert_allclose(ll, 0.0, atol=1e-6)


def test_same_seed_reproduces_and_other_seeds_differ(lstm):
    run = lambda seed: sampling.sample(lstm.step, lstm.initial_state(4), one_hot_c,  # noqa: E731
                                       identity_resolve, [[1, 2]] * 4, 24, seed=seed)
    a, b, c = run(123), run(123), run(124)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    # Rows of one batch are independent draws, not copies.
    assert len({tuple(row) for row in a[0].numpy()}) == 4


def test_same_seed_reproduces_across_processes():
    args = dict(primer=[[0], [5]], num_steps=20, seed=2024, temperature=1.3, top_k=5)
    script = (
        "import json, sys\n"
        f"sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'tests')!r}]\n"
        "import test_sampling as t\n"
        f"print(json.dumps(t.random_table_sample(**{args!r})))\n")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=120, check=True).stdout.strip().splitlines()[-1]
    assert json.loads(out) == random_table_sample(**args)


def random_table_sample(primer, num_steps, seed, temperature, top_k):
    ids, _ = sampling.sample(random_table_step, no_state(len(primer)), one_hot_c,
                             identity_resolve, primer, num_steps, seed=seed,
                             temperature=temperature, top_k=top_k)
    return ids.numpy().tolist()


def test_changing_numbers_does_not_retrace(lstm):
    state = lstm.initial_state(3)
    sampler = sampling.Sampler(lstm.step, one_hot_c, identity_resolve)
    for num_steps, seed, temperature in ((5, 1, 1.0), (9, 2, 0.5), (3, None, 2.0)):
        sampler.sample(state, [[1, 2]] * 3, num_steps, seed=seed, temperature=temperature,
                       top_k=2)
    assert list(sampler.loops) == [(2, 1, 1, 1, False)]
    assert sampler.loop(top_k=2).experimental_get_tracing_count() == 1


def test_a_model_s_loops_die_with_it():
    import gc
    import weakref

    class Tiny:
        def step(self, inputs, state):
            return tf.one_hot(tf.zeros([tf.shape(inputs)[0]], tf.int32), C), state

    model = Tiny()
    sampler = sampling.Sampler(model.step, one_hot_c, identity_resolve)
    sampler.sample(no_state(2), [[1], [2]], 3, seed=1)
    model.sampler, gone = sampler, weakref.ref(model)
    del model, sampler
    for _ in range(3):
        gc.collect()
    holders = [type(r).__name__ for r in gc.get_referrers(gone())] if gone() else []
    assert gone() is None, holders  # nothing module-level holds the model through its loops


def test_top_k_1_is_greedy(lstm):
    primer = [[1, 2], [3, 4], [5, 6]]
    ids, ll = sampling.sample(lstm.step, lstm.initial_state(3), one_hot_c, identity_resolve,
                              primer, 12, top_k=1, seed=5)
    history, state, total = np.asarray(primer), lstm.initial_state(3), np.zeros(3)
    for t in range(1, 2 + 12):
        logits, state = lstm.step(tf.one_hot(history[:, t - 1], C), state)
        if t >= 2:
            greedy = np.argmax(logits.numpy(), axis=1)
            total += tf.nn.log_softmax(logits).numpy()[np.arange(3), greedy]
            history = np.concatenate([history, greedy[:, None]], axis=1)
    np.testing.assert_array_equal(ids, history)
    # Scored under the full tempered softmax, not the top-1 renormalised one (which is 0).
    np.testing.assert_allclose(ll, total, rtol=1e-5, atol=1e-5)
    assert np.all(ll.numpy() < -1e-3)


@pytest.mark.parametrize("temperature,top_k", [(1.0, 0), (0.7, 3)])
def test_matches_eager_reference_loop_and_rescoring(lstm, temperature, top_k):
    primer = [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 0]]
    kwargs = dict(temperature=temperature, top_k=top_k, seed=77)
    ids, ll = sampling.sample(lstm.step, lstm.initial_state(4), one_hot_c, identity_resolve,
                              primer, 20, **kwargs)
    ref_ids, ref_ll = reference_sample(lstm.step, lstm.initial_state(4), one_hot_c,
                                       identity_resolve, primer, 20, **kwargs)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_allclose(ll, ref_ll, rtol=1e-5, atol=1e-4)
    rescored = rescore(lstm.step, lstm.initial_state(4), one_hot_c, ids, 3, temperature)
    np.testing.assert_allclose(ll, rescored, rtol=1e-5, atol=1e-4)


def test_resolve_fn_writes_resolved_ids():
    """A "repeat the last event" class (C - 1) is resolved by looking back in the history."""
    def repeat_step(inputs, state):
        return 8.0 * tf.one_hot(tf.fill([tf.shape(inputs)[0]], C - 1), C), state

    def resolve_repeat(labels, history, length):
        return tf.where(labels == C - 1, history[:, length - 1], labels)

    ids, _ = sampling.sample(repeat_step, no_state(2), one_hot_c, resolve_repeat, [[4], [7]], 6,
                             temperature=0.05, seed=0)
    np.testing.assert_array_equal(ids, [[4] * 7, [7] * 7])


def test_growing_state_such_as_an_attention_cache():
    """State dims that change every step (a transformer's cache) are left open in the loop."""
    def cache_step(inputs, state):
        cache = tf.concat([state[0], inputs[:, None, :]], axis=1)
        return 8.0 * tf.reduce_sum(cache, axis=1), [cache]  # prefers the most frequent id

    ids, _ = sampling.sample(cache_step, [tf.zeros([2, 0, C])], one_hot_c, identity_resolve,
                             [[2, 2, 5], [9, 1, 1]], 5, temperature=0.05, seed=0)
    np.testing.assert_array_equal(ids, [[2, 2, 5, 2, 2, 2, 2, 2], [9, 1, 1, 1, 1, 1, 1, 1]])


def test_beam_search_escapes_the_greedy_trap():
    batch, steps = 32, 16
    run = lambda **kw: sampling.sample(trap_step, no_state(batch), trap_input,  # noqa: E731
                                       identity_resolve, [[0]] * batch, steps, seed=3, **kw)
    _, sampled = run()
    _, greedy = run(top_k=1)
    beam_ids, beam = run(beam_size=4, branch_factor=2, steps_per_iteration=2)
    optimum = steps / 2 * math.log(0.4)
    # 16 steps of greedy: five A,x,0 cycles, then A.
    greedy_ll = 5 * (math.log(0.6) + math.log(1 / 16)) + math.log(0.6)
    np.testing.assert_allclose(greedy, greedy_ll, rtol=1e-5)
    # Measured over seeds 0..9 (batch 32): sampled means -13.9..-15.3, beam -9.3..-10.3.
    assert beam.numpy().mean() > sampled.numpy().mean() + 3
    assert np.all(beam.numpy() > greedy.numpy())
    assert np.all(beam.numpy() <= optimum + 1e-4)  # nothing beats the B,0 path
    # The returned score belongs to the returned sequence (rows were gathered consistently).
    rescored = rescore(trap_step, no_state(batch), trap_input, beam_ids, 1, 1.0)
    np.testing.assert_allclose(beam, rescored, atol=1e-4)


@pytest.mark.parametrize("beam_size,branch_factor,steps_per_iteration,num_steps",
                         [(4, 2, 2, 16), (3, 2, 3, 7), (1, 3, 1, 5), (3, 1, 2, 6)])
def test_beam_search_matches_eager_reference(lstm, beam_size, branch_factor,
                                             steps_per_iteration, num_steps):
    """Same ids for the same seed; the returned score is the max over the final beams."""
    beam = dict(beam_size=beam_size, branch_factor=branch_factor,
                steps_per_iteration=steps_per_iteration)
    primer = [[1, 2], [5, 6], [9, 10]]
    ids, ll = sampling.sample(lstm.step, lstm.initial_state(3), one_hot_c, identity_resolve,
                              primer, num_steps, seed=11, temperature=1.5, **beam)
    ref_ids, ref_ll = reference_sample(lstm.step, lstm.initial_state(3), one_hot_c,
                                       identity_resolve, primer, num_steps, seed=11,
                                       temperature=1.5, **beam)
    assert ids.shape == (3, 2 + num_steps)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_allclose(ll, ref_ll, rtol=1e-5, atol=1e-4)
    rescored = rescore(lstm.step, lstm.initial_state(3), one_hot_c, ids, 2, 1.5)
    np.testing.assert_allclose(ll, rescored, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("change,message", [
    (dict(num_steps=0), "num_steps"),
    (dict(temperature=0.0), "temperature"),
    (dict(temperature=-1.0), "temperature"),
    (dict(temperature=float("nan")), "temperature"),
    (dict(beam_size=0), "beam_size"),
    (dict(branch_factor=0), "branch_factor"),
    (dict(steps_per_iteration=0), "steps_per_iteration"),
    (dict(top_k=-1), "top_k"),
    (dict(seed=1.5), "seed"),
    (dict(primer_ids=np.zeros([2, 0], np.int32)), "empty"),
    (dict(primer_ids=np.zeros([0, 3], np.int32)), "empty"),
    (dict(primer_ids=[1, 2, 3]), "2-D"),
    (dict(primer_ids=[[0.5, 1.0], [1.0, 2.0]]), "integer"),
    (dict(initial_state=no_state(3)), "batch size"),
])
def test_bad_arguments_raise_value_error(change, message):
    args = dict(primer_ids=[[1, 2], [3, 4]], num_steps=4, initial_state=no_state(2))
    args.update(change)
    with pytest.raises(ValueError, match=message):
        sampling.sample(plus_one_step, args.pop("initial_state"), one_hot_c, identity_resolve,
                        args.pop("primer_ids"), args.pop("num_steps"), **args)
