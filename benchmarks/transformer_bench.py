"""Music Transformer figures: relative-attention memory, cached sampling, training speed.

1. Peak memory of one relative self-attention layer (forward, inside tf.function, batch 1,
   d_model 512, 8 heads: the paper's piano model) at L = 1024 and 2048, the skewing
   implementation vs Shaw et al.'s, which materialises the [H, L, L, head_dim] relative
   embeddings. Each measurement runs in a fresh subprocess: on a GPU, the allocator's
   peak (tf.config.experimental.get_memory_info); on CPU, the growth of the process'
   peak resident set (ru_maxrss) over the layer's forward pass, which counts every
   buffer the pass allocated at once. The forward is traced once beforehand on a short
   input (its signature leaves the length open), so the measured pass traces nothing
   (`memory_retraced` false in the JSON). The two layers share weights and give the same
   output (`memory_outputs_agree`).
2. Sampling `--tokens` tokens (batch 1, from the start symbol) with the key/value cache
   vs recomputing the whole prefix every step, both inside the same compiled loop with
   the same seed: the ids must be identical (`outputs_identical` in the JSON; the
   script exits 1 when they are not). Tracing excluded; best of repeats.
3. Training throughput (tokens/s) of the shipped config on random crops of the real
   chorale dataset (built from the bach_chorales corpus into a temporary folder).

The last line printed is one JSON object; the exit status is 1 when cached and uncached
sampling disagree or a measured pass re-traced.

    python benchmarks/transformer_bench.py [--bundle=chorale_transformer] [--tokens=1024]
"""
import argparse
import json
import math
import os
import pathlib
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _memory_child(impl, length, d_model, heads):
    """Runs in a subprocess: prints the peak bytes of one layer forward."""
    import resource

    import keras
    import tensorflow as tf

    from musiczoo.models.music_transformer.attention import RelativeSelfAttention
    keras.utils.set_random_seed(0)              # both layers get the same weights
    gpu = bool(tf.config.list_physical_devices("GPU"))
    layer = RelativeSelfAttention(d_model, heads, length, relative=impl)
    x = tf.random.stateless_normal([1, length, d_model], [1, 2])
    layer.build(x.shape)
    # One trace, for any length (the signature leaves it open), made on a short probe
    # before the measurement: the measured pass at `length` runs the traced graph and
    # traces nothing (checked with the tracing count), so tracing memory is outside the
    # measured peak. The peak RSS never falls, which is why the warm-up is short.
    forward = tf.function(lambda x: tf.reduce_sum(layer(x)),
                          input_signature=[tf.TensorSpec([1, None, d_model], tf.float32)])
    probe = tf.random.stateless_normal([1, 8, d_model], [1, 2])
    float(forward(probe))
    traces = forward.experimental_get_tracing_count()
    if gpu:
        tf.config.experimental.reset_memory_stats("GPU:0")
        before = tf.config.experimental.get_memory_info("GPU:0")["current"]
        value = float(forward(x))
        peak = tf.config.experimental.get_memory_info("GPU:0")["peak"] - before
    else:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        value = float(forward(x))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    retraced = forward.experimental_get_tracing_count() != traces
    print(json.dumps({"peak_bytes": int(peak), "value": value, "device": "GPU" if gpu else "CPU",
                      "retraced": retraced}))


def measure_memory(impl, length, d_model=512, heads=8):
    out = subprocess.run([sys.executable, __file__, "--memory_child", impl, str(length),
                          str(d_model), str(heads)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def memory(lengths):
    results = {}
    for length in lengths:
        skewed, naive = measure_memory("skewed", length), measure_memory("naive", length)
        ratio = naive["peak_bytes"] / max(skewed["peak_bytes"], 1)
        print(f"L={length}: skewing {skewed['peak_bytes'] / 2**20:.1f} MiB, naive "
              f"{naive['peak_bytes'] / 2**20:.1f} MiB, ratio {ratio:.1f} ({skewed['device']}); "
              f"outputs {skewed['value']:.4f} / {naive['value']:.4f}")
        results[length] = (skewed, naive, ratio)
    return results


def sampling(bundle, tokens, repeats):
    import numpy as np

    import musiczoo
    model = musiczoo.load_bundle(bundle)
    start = np.array([[model.codec.start_id]], np.int32)
    timings, outputs = {}, {}
    for cached in (True, False):
        model.generate_tokens(start, 4, seed=1, cached=cached)          # trace once
        best = float("inf")
        for _ in range(repeats):
            began = time.perf_counter()
            ids, _ = model.generate_tokens(start, tokens, seed=7, top_k=0, cached=cached)
            best = min(best, time.perf_counter() - began)
        timings[cached], outputs[cached] = best, ids
    same = bool((outputs[True] == outputs[False]).all())
    print(f"sampling {tokens} tokens: cached {timings[True]:.2f} s, uncached "
          f"{timings[False]:.2f} s, ratio {timings[False] / timings[True]:.1f}, "
          f"identical outputs: {same}")
    return timings, same, model


def training_speed(model, steps):
    from musiczoo import commands
    from musiczoo.models.music_transformer.model import MusicTransformer
    fresh = MusicTransformer.from_config(model.config)
    with tempfile.TemporaryDirectory() as folder:
        data = pathlib.Path(folder) / "data"
        commands.create_dataset(model.config.name, "bach_chorales", data, progress=False)
        run = pathlib.Path(folder) / "run"
        fresh.train(data, run, num_training_steps=2, eval_every=0, progress=False, seed=1)
        began = time.perf_counter()   # resumed: the timed part re-traces once, then trains
        fresh.train(data, run, num_training_steps=2 + steps, eval_every=0, progress=False,
                    seed=1)
        seconds = time.perf_counter() - began
    tokens = steps * model.config.batch_size * model.config.max_length
    print(f"training {model.config.name}: {steps} steps of {model.config.batch_size} x "
          f"{model.config.max_length} tokens in {seconds:.1f} s: {tokens / seconds:.0f} tokens/s")
    return tokens / seconds


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--memory_child":
        _memory_child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
        return 0
    parser = argparse.ArgumentParser()
    parser.add_argument("--bundle", default="chorale_transformer")
    parser.add_argument("--tokens", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--train_steps", type=int, default=10)
    parser.add_argument("--lengths", default="1024,2048")
    parser.add_argument("--skip", default="", help="comma list of memory,sampling,training")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    from musiczoo import runtime
    runtime.configure_threads()
    result = {}
    if "memory" not in skip:
        for length, (skewed, naive, ratio) in memory(
                [int(x) for x in args.lengths.split(",")]).items():
            result[f"memory_skewed_mib_{length}"] = round(skewed["peak_bytes"] / 2**20, 1)
            result[f"memory_naive_mib_{length}"] = round(naive["peak_bytes"] / 2**20, 1)
            result[f"memory_ratio_{length}"] = round(ratio, 1)
            result["memory_device"] = skewed["device"]
            result["memory_retraced"] = result.get("memory_retraced", False) or bool(
                skewed["retraced"] or naive["retraced"])
            result[f"memory_outputs_agree_{length}"] = math.isclose(
                skewed["value"], naive["value"], rel_tol=1e-4, abs_tol=1e-3)
    model = None
    if "sampling" not in skip:
        timings, same, model = sampling(args.bundle, args.tokens, args.repeats)
        result.update(cached_sampling_seconds=round(timings[True], 2),
                      uncached_sampling_seconds=round(timings[False], 2),
                      cached_sampling_ratio=round(timings[False] / timings[True], 1),
                      sampling_tokens=args.tokens, outputs_identical=same)
    if "training" not in skip:
        if model is None:
            import musiczoo
            model = musiczoo.load_bundle(args.bundle)
        result["training_tokens_per_second"] = round(training_speed(model, args.train_steps))
        result["training_config"] = model.config.name
    print(json.dumps(result))
    failed = result.get("outputs_identical") is False or result.get("memory_retraced")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
