"""Music Transformer figures: relative-attention memory, cached sampling, training speed.

1. Peak memory of one relative self-attention layer (forward, inside tf.function, batch 1,
   d_model 512, 8 heads: the paper's piano model) at L = 1024 and 2048: the query-block
   implementation (`relative="block"`, the default), the skewing one (the whole
   [B, H, L, L] logits) and Shaw et al.'s, which materialises the [H, L, L, head_dim]
   relative embeddings; `memory_ratio_<L>` is naive / block, `memory_ratio_<L>_skewed`
   naive / skewed. Each measurement runs in a fresh subprocess: on a GPU, the allocator's
   peak (tf.config.experimental.get_memory_info); on CPU, the growth of the process'
   peak resident set (ru_maxrss) over the layer's forward pass, which counts every
   buffer the pass allocated at once. The forward is traced once beforehand on a short
   input (its signature leaves the length open), so the measured pass traces nothing
   (`memory_retraced` false in the JSON). The layers share weights and give the same
   output (`memory_outputs_agree`).
   Then `longest_length_8gib`: per implementation, the longest L (doubling from 1024 up to
   `--max_search_length`, then bisection to 256) whose measured forward peak is at most
   8 GiB, each L in a fresh subprocess. A length whose peak, extrapolated as O(L^2) from
   the longest measured one, would exceed `--ram_limit_gib` is not run: the search then
   extrapolates, and `longest_length_8gib_measured` says which figures were measured.
2. Sampling `--tokens` tokens (batch 1, from the start symbol) with the key/value cache
   vs recomputing the whole prefix every step, both inside the same compiled loop with
   the same seed: the ids must be identical (`outputs_identical` in the JSON; the
   script exits 1 when they are not). Tracing excluded; best of repeats. Run once with
   the bundle's layers on "skewed" and once on "block" (a fresh load each);
   `sampling_speed_ratio_block_vs_skewed` is skewed's cached seconds / block's (> 1:
   block faster), and both must give the same ids.
3. Training throughput (tokens/s) of the shipped config on random crops of the real
   chorale dataset (built from the bach_chorales corpus into a temporary folder), skewed
   and block interleaved in the same run (best of `--train_repeats` each);
   `train_speed_ratio_block_vs_skewed` is block tokens/s / skewed tokens/s.

The last line printed is one JSON object; the exit status is 1 when cached and uncached
sampling disagree or a measured pass re-traced.

    python benchmarks/transformer_bench.py [--bundle=chorale_transformer] [--tokens=1024]
        [--max_search_length=65536] [--skip=memory,search,sampling,training]
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


def measure_memory(impl, length, d_model=512, heads=8, timeout=None):
    out = subprocess.run([sys.executable, __file__, "--memory_child", impl, str(length),
                          str(d_model), str(heads)], capture_output=True, text=True, check=True,
                         timeout=timeout)
    return json.loads(out.stdout.strip().splitlines()[-1])


IMPLS = ("block", "skewed", "naive")


def memory(lengths):
    results = {}
    for length in lengths:
        runs = {impl: measure_memory(impl, length) for impl in IMPLS}
        mib = {impl: runs[impl]["peak_bytes"] / 2**20 for impl in IMPLS}
        print(f"L={length}: block {mib['block']:.1f} MiB, skewing {mib['skewed']:.1f} MiB, "
              f"naive {mib['naive']:.1f} MiB: naive / block {mib['naive'] / mib['block']:.1f}, "
              f"naive / skewed {mib['naive'] / mib['skewed']:.1f} ({runs['block']['device']}); "
              f"outputs " + " / ".join(f"{runs[i]['value']:.4f}" for i in IMPLS))
        results[length] = runs
    return results


def longest_length(impl, limit_bytes, max_length, ram_limit_bytes, granularity=256,
                   start=1024, timeout=900):
    """The longest L (multiple of `granularity`, <= max_length) whose one-layer forward
    peaks at <= limit_bytes. Lengths whose peak, extrapolated as O(L^2) from the longest
    measured one, exceeds ram_limit_bytes are not run (the answer is then extrapolated).
    Returns (length, measured, {L: peak MiB})."""
    peaks = {}

    def fits(length):
        """True / False when measured; None when it would not be safe to run."""
        known = max((l for l in peaks if l < length), default=None)
        if known is not None and peaks[known] * (length / known) ** 2 > ram_limit_bytes:
            return None
        try:
            peaks[length] = measure_memory(impl, length, timeout=timeout)["peak_bytes"]
        except subprocess.TimeoutExpired:
            print(f"  {impl} L={length}: over {timeout} s, not measured", flush=True)
            return None
        print(f"  {impl} L={length}: {peaks[length] / 2**20:.1f} MiB", flush=True)
        return peaks[length] <= limit_bytes

    good, bad, length = 0, None, start
    while length <= max_length:                                # doubling
        ok = fits(length)
        if ok is None:
            break
        if not ok:
            bad = length
            break
        good, length = length, length * 2
    else:
        return good, True, peaks                               # fits at the cap
    upper = bad if bad is not None else length   # `length` not run: its peak > ram limit
    measured = True
    while upper - good > granularity:                          # bisection
        middle = (good + upper) // 2 // granularity * granularity
        ok = fits(middle)
        if ok is None:
            measured = False
            break
        good, upper = (middle, upper) if ok else (good, middle)
    if not measured:
        # O(L^2) from the longest length measured: L = L0 sqrt(limit / peak(L0)).
        base = max(peaks)
        good = int(base * math.sqrt(limit_bytes / peaks[base])) // granularity * granularity
    return good, measured, peaks


def use_relative(model, impl):
    """Switches every decoder layer of a MusicTransformer to `impl` (before tracing)."""
    for layer in model.model.decoder_layers:
        layer.attention.relative = impl


def sampling(bundle, tokens, repeats, impl="block"):
    import numpy as np

    import musiczoo
    model = musiczoo.load_bundle(bundle)
    use_relative(model, impl)
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
    print(f"sampling {tokens} tokens ({impl}): cached {timings[True]:.2f} s, uncached "
          f"{timings[False]:.2f} s, ratio {timings[False] / timings[True]:.1f}, "
          f"identical outputs: {same}")
    return timings, same, model, outputs[True]


def training_speed(model, steps, impls=("skewed", "block"), repeats=2):
    """{impl: best tokens/s}: fresh models of the bundle's config, the impls interleaved."""
    from musiczoo import commands
    from musiczoo.models.music_transformer.model import MusicTransformer
    speeds = {impl: 0.0 for impl in impls}
    tokens = steps * model.config.batch_size * model.config.max_length
    with tempfile.TemporaryDirectory() as folder:
        data = pathlib.Path(folder) / "data"
        commands.create_dataset(model.config.name, "bach_chorales", data, progress=False)
        for repeat in range(repeats):
            for impl in impls:
                fresh = MusicTransformer.from_config(model.config)
                use_relative(fresh, impl)
                run = pathlib.Path(folder) / f"run_{impl}_{repeat}"
                fresh.train(data, run, num_training_steps=2, eval_every=0, progress=False,
                            seed=1)
                began = time.perf_counter()   # resumed: the timed part re-traces once
                fresh.train(data, run, num_training_steps=2 + steps, eval_every=0,
                            progress=False, seed=1)
                seconds = time.perf_counter() - began
                assert all(layer.attention.relative == impl
                           for layer in fresh.model.decoder_layers)
                print(f"training {model.config.name} ({impl}): {steps} steps of "
                      f"{model.config.batch_size} x {model.config.max_length} tokens in "
                      f"{seconds:.1f} s: {tokens / seconds:.0f} tokens/s", flush=True)
                speeds[impl] = max(speeds[impl], tokens / seconds)
    return speeds


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
    parser.add_argument("--train_repeats", type=int, default=2)
    parser.add_argument("--max_search_length", type=int, default=65536)
    parser.add_argument("--ram_limit_gib", type=float, default=14.0,
                        help="lengths whose extrapolated peak exceeds this are not run")
    parser.add_argument("--skip", default="",
                        help="comma list of memory,search,sampling,training")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    from musiczoo import runtime
    runtime.configure_threads()
    result = {}
    if "memory" not in skip:
        for length, runs in memory([int(x) for x in args.lengths.split(",")]).items():
            block, skewed, naive = runs["block"], runs["skewed"], runs["naive"]
            for impl in IMPLS:
                result[f"memory_{impl}_mib_{length}"] = round(runs[impl]["peak_bytes"] / 2**20, 1)
            result[f"memory_ratio_{length}"] = round(
                naive["peak_bytes"] / max(block["peak_bytes"], 1), 1)
            result[f"memory_ratio_{length}_skewed"] = round(
                naive["peak_bytes"] / max(skewed["peak_bytes"], 1), 1)
            result["memory_device"] = block["device"]
            result["memory_retraced"] = result.get("memory_retraced", False) or any(
                runs[impl]["retraced"] for impl in IMPLS)
            result[f"memory_outputs_agree_{length}"] = all(
                math.isclose(runs[impl]["value"], naive["value"], rel_tol=1e-4, abs_tol=1e-3)
                for impl in IMPLS)
    if "search" not in skip:
        began = time.perf_counter()
        longest, measured = {}, {}
        for impl in IMPLS:
            longest[impl], measured[impl], peaks = longest_length(
                impl, 8 * 2**30, args.max_search_length, args.ram_limit_gib * 2**30)
            print(f"longest L in 8 GiB, {impl}: {longest[impl]} "
                  f"({'measured' if measured[impl] else 'extrapolated O(L^2)'}"
                  f"{', the search cap' if longest[impl] >= args.max_search_length else ''})",
                  flush=True)
        result.update(longest_length_8gib=longest, longest_length_8gib_measured=measured,
                      longest_length_search_cap=args.max_search_length,
                      longest_length_search_seconds=round(time.perf_counter() - began))
    model = None
    if "sampling" not in skip:
        timings, same, model, skewed_ids = sampling(args.bundle, args.tokens, args.repeats,
                                                    "skewed")
        block_timings, block_same, model, block_ids = sampling(args.bundle, args.tokens,
                                                               args.repeats, "block")
        same = same and block_same and bool((skewed_ids == block_ids).all())
        result.update(cached_sampling_seconds=round(block_timings[True], 2),
                      uncached_sampling_seconds=round(block_timings[False], 2),
                      cached_sampling_ratio=round(block_timings[False] / block_timings[True], 1),
                      cached_sampling_seconds_skewed=round(timings[True], 2),
                      uncached_sampling_seconds_skewed=round(timings[False], 2),
                      sampling_speed_ratio_block_vs_skewed=round(
                          timings[True] / block_timings[True], 3),
                      uncached_sampling_speed_ratio_block_vs_skewed=round(
                          timings[False] / block_timings[False], 3),
                      sampling_tokens=args.tokens, outputs_identical=same)
    if "training" not in skip:
        if model is None:
            import musiczoo
            model = musiczoo.load_bundle(args.bundle)
        speeds = training_speed(model, args.train_steps, repeats=args.train_repeats)
        result["training_tokens_per_second"] = round(speeds["block"])
        result["training_tokens_per_second_skewed"] = round(speeds["skewed"])
        result["train_speed_ratio_block_vs_skewed"] = round(speeds["block"] / speeds["skewed"], 3)
        result["training_config"] = model.config.name
    print(json.dumps(result))
    failed = result.get("outputs_identical") is False or result.get("memory_retraced")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
