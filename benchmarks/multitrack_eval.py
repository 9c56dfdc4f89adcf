"""Issue 16's evaluation of a multi-instrument Music Transformer: held-out NLL per style,
instrument compliance of samples, and style statistics of data beside samples.

1. Held-out NLL per style. The dataset's eval windows (dataset.json files/eval), grouped
   by their STYLE token (position 1 of each token row), at most --max_windows_per_style
   per style (spread evenly over the style's windows, so over its pieces), scored
   teacher-forced in padded batches (the model is causal: padding at the end of a row
   changes nothing before it). NLL is in nats per token over the *events* only: the
   start symbol -> STYLE and the INSTRUMENT prefix tokens are not in the average (the
   conditioning is given at generation, not predicted). `pieces` is the number of the
   style's pieces in the held-out split (recomputed from the dataset's input_spec and
   eval_ratio as create_dataset split it; null when that input is not a folder or corpus
   on this machine).
2. Instrument compliance. A fixed list of (style, instruments) requests (those whose style
   the bundle's profile has), --samples_per_request samples of --bars bars each:
   `compliance_subset_rate` = share of samples playing only requested instruments (must
   be 1.0: the sampling mask makes it hold by construction), `compliance_all_requested_
   rate` = share where every requested instrument plays at least one note.
3. Style statistics. For each style of the profile: the figures below on (a) up to
   --files_per_style corpus files of that style (--corpus/<style>/*.mid, a seeded sample,
   first --data_bars bars each) and (b) --samples_per_request generated samples of --bars
   bars with controls giving only the style and bars (so instruments, meter and tempo are
   the style's usual ones from the bundle's profile: tempo and meter agreement tests the
   profile, not the network). Figures pool the notes of all files / samples of a style:
     notes_per_bar       pitched notes per bar (drums not counted)
     drum_hits_per_bar   drum notes per bar
     families            share of pitched notes per GM family, top 2
     pitch_p5, pitch_p95 5th / 95th percentile of pitched notes' MIDI pitch
     polyphony           mean number of pitched notes sounding at each distinct pitched
                         onset time (the notes starting there included)
     qpm                 the first tempo (median over files)
     meter               the first time signature (most common over files)
     swing_share         onsets (pitched and drums, each note) on the 12-per-quarter grid
                         (rounded to the nearest 1/12 quarter): those at 1/3 or 2/3 of a
                         quarter (2nd / 3rd triplet eighth) over those at 1/3, 1/2 or 2/3
                         (the straight eighth off-beat is 1/2); 0 = straight, 1 = all
                         triplet; measured against the quarter note in every meter
     kick_on_1_3         4/4 pieces only: share of kick hits (35, 36) on beats 1 or 3
     snare_on_2_4        4/4 pieces only: share of snare hits (38, 40) on beats 2 or 4
   and, per scalar figure, the Spearman rank correlation across styles between data and
   samples (null with fewer than 3 styles having both, or a constant column); meter and
   top family agreement are the share of styles where data and samples have the same.

The last line printed is one JSON object.

    python benchmarks/multitrack_eval.py --bundle=bundles/multitrack_transformer.mzb \
        --dataset=/work/train/data [--corpus=~/.cache/musiczoo/multitrack] \
        [--max_windows_per_style=40] [--samples_per_request=2] [--bars=4] [--seed=1] \
        [--styles=rock,swing]
"""
import argparse
import collections
import json
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

REQUESTS = (("rock", "piano,bass,drums"), ("swing", "piano,bass,drums,brass"),
            ("bossa_nova", "guitar,bass,drums"), ("waltz", "piano,bass,drums"),
            ("string_quartet", "strings"), ("chorale", "ensemble"),
            ("latin", "piano,bass,drums,guitar"), ("blues", "organ,bass,drums"))
KICKS, SNARES = (35, 36), (38, 40)
GRID = 12  # positions per quarter note for the onset figures
SCALAR_FIGURES = ("notes_per_bar", "drum_hits_per_bar", "pitch_p5", "pitch_p95", "polyphony",
                  "qpm", "swing_share", "kick_on_1_3", "snare_on_2_4")


# -- 1. held-out NLL ----------------------------------------------------------------------

def held_out_pieces(info, styles):
    """{style: pieces in the held-out split} from the dataset's input (a folder or a corpus
    whose files are on disk), as create_dataset split it; None when it cannot tell."""
    from musiczoo.pipelines.extract import multitrack as mt
    from musiczoo.pipelines.extract import transforms
    from musiczoo.pipelines.readers.files import generate_note_sequence_id, iter_music_files
    spec, ratio = info.get("input_spec"), info.get("eval_ratio")
    if not spec or ratio is None:
        return None
    root = pathlib.Path(str(spec)).expanduser()
    if not root.is_dir():
        try:
            from musiczoo.pipelines.readers.corpora import CORPORA
            from musiczoo.pipelines.readers.multitrack import multitrack_dir
            if spec != "multitrack" or spec not in CORPORA:
                return None
            root = multitrack_dir()
        except Exception:  # noqa: BLE001 (a report figure, not worth failing for)
            return None
    counts = collections.Counter()
    for path in iter_music_files(root):
        name = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
        if not str(path).lower().endswith((".mid", ".midi")):
            return None  # ids of other formats carry suffixes; do not guess
        if transforms.is_eval(generate_note_sequence_id(name, root.name, "midi"), ratio):
            counts[styles[mt.style_of(name, styles)]] += 1
    return dict(counts)


def eval_windows(model, dataset_dir, max_per_style, wanted_styles):
    """({style: [(token row, prefix length)]}, {style: windows available}, info)."""
    from musiczoo.pipelines.datasets.tfrecord import read_examples
    dataset_dir = pathlib.Path(dataset_dir).expanduser()
    info = json.loads((dataset_dir / "dataset.json").read_text())
    path = dataset_dir / info["files"]["eval"]
    base, start = model.codec.base, model.codec.start_id
    first_style, first_instrument = base.offsets["style"], base.offsets["instrument"]
    rows = collections.defaultdict(list)
    for inputs, labels in read_examples(path, info["input_size"]):
        tokens = np.append(inputs[:, 0].astype(np.int64), labels[-1:].astype(np.int64))
        if tokens[0] != start or not first_style <= tokens[1] < first_instrument:
            raise SystemExit(f"{path}: a window does not open with the start symbol and a "
                             f"STYLE token ({tokens[:3].tolist()}); not a multitrack dataset "
                             "of this bundle's codec?")
        style = base.styles[int(tokens[1]) - first_style]
        if wanted_styles and style not in wanted_styles:
            continue
        instruments = 0
        while (2 + instruments < len(tokens)
               and first_instrument <= tokens[2 + instruments] < base.num_classes):
            instruments += 1
        rows[style].append((tokens, 1 + instruments))
    available = {style: len(found) for style, found in rows.items()}
    chosen = {}
    for style, found in rows.items():
        if len(found) > max_per_style:
            picks = np.unique(np.linspace(0, len(found) - 1, max_per_style).round().astype(int))
            found = [found[i] for i in picks]
        chosen[style] = found
    return chosen, available, info


def score_windows(model, windows, batch_size):
    """[(summed NLL, correct, scored tokens)] per (tokens, prefix) window: teacher-forced,
    the events after the prefix only, in padded batches of one shape."""
    import tensorflow as tf
    length = max(len(tokens) - 1 for tokens, _ in windows)

    @tf.function(input_signature=[tf.TensorSpec([batch_size, length], tf.int32),
                                  tf.TensorSpec([batch_size, length], tf.int32)])
    def gathered(inputs, targets):
        logits = tf.cast(model.model(inputs, training=False), tf.float32)
        log_probs = tf.nn.log_softmax(logits)
        chosen = tf.gather(log_probs, targets, batch_dims=2)
        hits = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), targets),
                       tf.float32)
        return chosen, hits

    out = []
    for begin in range(0, len(windows), batch_size):
        batch = windows[begin:begin + batch_size]
        inputs = np.zeros((batch_size, length), np.int32)
        targets = np.zeros((batch_size, length), np.int32)
        mask = np.zeros((batch_size, length), bool)
        for row, (tokens, prefix) in enumerate(batch):
            n = len(tokens) - 1
            inputs[row, :n], targets[row, :n] = tokens[:-1], tokens[1:]
            # targets[j] is token j + 1: the STYLE is target 0, the INSTRUMENTs 1..prefix-1
            mask[row, prefix:n] = True
        log_probs, hits = (t.numpy() for t in gathered(tf.constant(inputs), tf.constant(targets)))
        for row in range(len(batch)):
            out.append((-float(log_probs[row][mask[row]].astype(np.float64).sum()),
                        float(hits[row][mask[row]].sum()), int(mask[row].sum())))
    return out


# -- statistics of a NoteSequence ----------------------------------------------------------

def piece_counts(sequence, max_bars=None):
    """Raw counts of one sequence (its first max_bars bars), pooled later by style_figures."""
    from musiczoo.pipelines.extract import multitrack as mt
    qpm = sequence.tempos[0].qpm if sequence.tempos else 120.0
    meter = ((sequence.time_signatures[0].numerator, sequence.time_signatures[0].denominator)
             if sequence.time_signatures else (4, 4))
    quarter = 60.0 / qpm
    bar_quarters = meter[0] * 4.0 / meter[1]
    limit = max_bars * bar_quarters * quarter if max_bars else float("inf")
    notes = [n for n in sequence.notes if n.start_time < limit - 1e-9]
    end = max([sequence.total_time] + [min(n.end_time, limit) for n in notes])
    bars = min(end, limit) / (bar_quarters * quarter)
    pitched = [n for n in notes if not n.is_drum]
    drums = [n for n in notes if n.is_drum]
    positions = {id(n): int(round(n.start_time / quarter * GRID)) for n in notes}
    phases = collections.Counter(positions[id(n)] % GRID for n in notes)
    onsets = sorted({positions[id(n)] for n in pitched})
    starts = np.array([n.start_time for n in pitched])
    ends = np.array([n.end_time for n in pitched])
    sounding = [int(((starts <= t * quarter / GRID + 1e-6) & (ends > t * quarter / GRID + 1e-6)
                     ).sum()) for t in onsets]
    counts = {"bars": bars, "pitched": len(pitched), "drums": len(drums),
              "families": collections.Counter(n.program // 8 for n in pitched),
              "pitches": [n.pitch for n in pitched],
              "sounding": sum(sounding), "onsets": len(onsets),
              "triplet": phases[GRID // 3] + phases[2 * GRID // 3], "straight": phases[GRID // 2],
              "qpm": float(qpm), "meter": f"{meter[0]}/{meter[1]}",
              "instruments": tuple(sorted({mt.DRUMS if n.is_drum else n.program // 8
                                           for n in notes})),
              "kick": 0, "kick_on": 0, "snare": 0, "snare_on": 0}
    if tuple(meter) == (4, 4):
        for n in drums:
            beat = positions[id(n)] % (4 * GRID)
            if n.pitch in KICKS:
                counts["kick"] += 1
                counts["kick_on"] += beat in (0, 2 * GRID)
            elif n.pitch in SNARES:
                counts["snare"] += 1
                counts["snare_on"] += beat in (GRID, 3 * GRID)
    return counts


def style_figures(pieces):
    """The figures of one style from its pieces' counts (pooled)."""
    from musiczoo.pipelines.extract import multitrack as mt
    if not pieces:
        return None
    total = {key: sum(p[key] for p in pieces) for key in
             ("bars", "pitched", "drums", "sounding", "onsets", "triplet", "straight", "kick",
              "kick_on", "snare", "snare_on")}
    families = sum((p["families"] for p in pieces), collections.Counter())
    pitches = [pitch for p in pieces for pitch in p["pitches"]]

    def share(part, whole):
        return round(part / whole, 4) if whole else None

    bars = total["bars"]
    return {
        "pieces": len(pieces), "bars": round(bars, 2),
        "notes_per_bar": round(total["pitched"] / bars, 3) if bars else None,
        "drum_hits_per_bar": round(total["drums"] / bars, 3) if bars else None,
        "families": {mt.INSTRUMENT_NAMES[f]: share(c, total["pitched"])
                     for f, c in families.most_common(2)},
        "pitch_p5": float(np.percentile(pitches, 5)) if pitches else None,
        "pitch_p95": float(np.percentile(pitches, 95)) if pitches else None,
        "polyphony": share(total["sounding"], total["onsets"]),
        "qpm": round(float(np.median([p["qpm"] for p in pieces])), 1),
        "meter": collections.Counter(p["meter"] for p in pieces).most_common(1)[0][0],
        "instruments": ",".join(mt.INSTRUMENT_NAMES[i] for i in collections.Counter(
            p["instruments"] for p in pieces).most_common(1)[0][0]),
        "swing_share": share(total["triplet"], total["triplet"] + total["straight"]),
        "kick_on_1_3": share(total["kick_on"], total["kick"]),
        "snare_on_2_4": share(total["snare_on"], total["snare"])}


def corpus_counts(corpus, style, files_per_style, data_bars, seed):
    from musiczoo.pipelines.readers.files import read_file
    folder = pathlib.Path(corpus).expanduser() / style
    paths = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".mid", ".midi"))
    if len(paths) > files_per_style:
        picks = np.random.default_rng(seed).choice(len(paths), files_per_style, replace=False)
        paths = [paths[i] for i in sorted(picks)]
    out = []
    for path in paths:
        try:
            sequences = read_file(path)
        except Exception as error:  # noqa: BLE001 (a bad file is skipped, and said)
            print(f"  skipped {path}: {error}", file=sys.stderr)
            continue
        out.extend(piece_counts(s, data_bars) for s in sequences if s.notes)
    return out


def rank(values):
    """Ranks (0-based) with ties averaged."""
    values = np.asarray(values, float)
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    for value in np.unique(values):
        same = values == value
        ranks[same] = ranks[same].mean()
    return ranks


def spearman(xs, ys):
    pairs = [(x, y) for x, y in zip(xs, ys) if x is not None and y is not None]
    if len(pairs) < 3:
        return None
    a, b = (rank(column) for column in zip(*pairs))
    if a.std() == 0 or b.std() == 0:
        return None
    return round(float(np.corrcoef(a, b)[0, 1]), 3)


def show(value):
    if value is None:
        return "-"
    if isinstance(value, dict):
        return " ".join(f"{k}:{v:.2f}" for k, v in value.items()) or "-"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


# -- main -----------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bundle", default="multitrack_transformer")
    parser.add_argument("--dataset", required=True, help="a create_dataset folder of this "
                        "bundle's codec (dataset.json and its eval tfrecord)")
    parser.add_argument("--corpus", default="~/.cache/musiczoo/multitrack",
                        help="folder of <style>/*.mid files for the data statistics")
    parser.add_argument("--max_windows_per_style", type=int, default=40)
    parser.add_argument("--samples_per_request", type=int, default=2)
    parser.add_argument("--bars", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--styles", default="", help="comma-separated styles to limit to")
    parser.add_argument("--files_per_style", type=int, default=20)
    parser.add_argument("--data_bars", type=int, default=8)
    parser.add_argument("--batch_size", type=int, default=8)
    args = parser.parse_args()
    began = time.perf_counter()
    import musiczoo
    from musiczoo import runtime
    from musiczoo.controls import Controls, compliance
    runtime.configure_threads()
    model = musiczoo.load_bundle(args.bundle)
    wanted = {s.strip() for s in args.styles.split(",") if s.strip()}
    unknown = wanted - set(model.styles)
    if unknown:
        raise SystemExit(f"unknown styles {sorted(unknown)}; the bundle knows "
                         f"{', '.join(model.styles)}")
    result = {"bundle": args.bundle, "dataset": args.dataset, "bars": args.bars,
              "samples_per_request": args.samples_per_request, "seed": args.seed}

    # 1. held-out NLL per style
    t0 = time.perf_counter()
    chosen, available, info = eval_windows(model, args.dataset, args.max_windows_per_style,
                                           wanted)
    pieces = held_out_pieces(info, model.styles)
    order = [s for s in model.styles if s in chosen]
    flat = [(style, window) for style in order for window in chosen[style]]
    scores = score_windows(model, [w for _, w in flat], args.batch_size) if flat else []
    per_style = collections.defaultdict(lambda: np.zeros(3))
    for (style, _), score in zip(flat, scores):
        per_style[style] += score
    nll_per_style, nll_table = {}, {}
    for style in order:
        nll, correct, tokens = per_style[style]
        nll_per_style[style] = round(nll / tokens, 4) if tokens else None
        nll_table[style] = {"pieces": None if pieces is None else pieces.get(style, 0),
                            "windows": len(chosen[style]), "windows_available": available[style],
                            "tokens": int(tokens), "nll": nll_per_style[style],
                            "accuracy": round(correct / tokens, 4) if tokens else None}
    totals = sum(per_style.values()) if per_style else np.zeros(3)
    result["nll_per_style"] = nll_per_style
    result["nll_overall"] = round(totals[0] / totals[2], 4) if totals[2] else None
    result["accuracy_overall"] = round(totals[1] / totals[2], 4) if totals[2] else None
    result["nll_table"] = nll_table
    result["nll_note"] = ("nats per event token after the conditioning prefix (start->STYLE "
                          "and INSTRUMENT tokens excluded), teacher-forced on eval windows")
    result["nll_seconds"] = round(time.perf_counter() - t0, 1)
    print(f"Held-out NLL ({info['files']['eval']}; nats per event token, prefix excluded):")
    print(f"  {'style':<16}{'pieces':>7}{'windows':>9}{'tokens':>9}{'nll':>8}{'acc':>7}")
    for style, row in nll_table.items():
        windows = f"{row['windows']}/{row['windows_available']}"
        print(f"  {style:<16}{show(row['pieces']):>7}{windows:>9}{row['tokens']:>9}"
              f"{show(row['nll']):>8}{show(row['accuracy']):>7}")
    print(f"  {'overall':<16}{'':>7}{len(flat):>9}{int(totals[2]):>9}"
          f"{show(result['nll_overall']):>8}{show(result['accuracy_overall']):>7}")

    profile = model.profile
    known = [s for s in model.styles if s in profile and (not wanted or s in wanted)]
    n = args.samples_per_request

    def sample(controls, seed):
        start = time.perf_counter()
        sequences = model.generate(n, controls=controls, seed=seed)
        return sequences, (time.perf_counter() - start) / n, model.last_controls

    # 2. instrument compliance
    requests = [(s, i) for s, i in REQUESTS if s in known]
    rows, subset, everyone, notes, seconds = [], [], [], [], []
    for index, (style, instruments) in enumerate(requests):
        controls = Controls.parse(style=style, instruments=instruments, bars=args.bars)
        sequences, per_sample, _ = sample(controls, args.seed + 100 * index)
        for sequence in sequences:
            measured = compliance.measure(sequence, controls)
            subset.append(bool(measured["checks"]["instruments"]))
            everyone.append(not measured["measured"]["instruments_silent"])
            notes.append(len(sequence.notes))
            rows.append({"style": style, "requested": instruments,
                         "played": ",".join(measured["measured"]["instruments"]),
                         "silent": ",".join(measured["measured"]["instruments_silent"]),
                         "notes": len(sequence.notes),
                         "bars_ok": bool(measured["checks"].get("bars", True))})
        seconds.append(per_sample)
    result["compliance_requests"] = len(requests)
    result["compliance_samples"] = len(subset)
    result["compliance_subset_rate"] = round(float(np.mean(subset)), 4) if subset else None
    result["compliance_all_requested_rate"] = (round(float(np.mean(everyone)), 4)
                                               if everyone else None)
    result["compliance_mean_notes"] = round(float(np.mean(notes)), 1) if notes else None
    result["generation_seconds_per_sample"] = (round(float(np.mean(seconds)), 2)
                                               if seconds else None)
    result["compliance_table"] = rows
    print(f"\nInstrument compliance ({len(requests)} requests x {n} samples x {args.bars} bars; "
          "the first call includes compiling):")
    print(f"  {'style':<16}{'requested':<26}{'played':<26}{'silent':<14}{'notes':>6}")
    for row in rows:
        print(f"  {row['style']:<16}{row['requested']:<26}{row['played']:<26}"
              f"{row['silent'] or '-':<14}{row['notes']:>6}")
    print(f"  only requested instruments: {show(result['compliance_subset_rate'])}; every "
          f"requested instrument plays: {show(result['compliance_all_requested_rate'])}; "
          f"{show(result['compliance_mean_notes'])} notes a sample; "
          f"{show(result['generation_seconds_per_sample'])} s a sample")

    # 3. style statistics, data beside samples
    t0 = time.perf_counter()
    style_stats, usual_ok, style_seconds = {}, [], []
    for index, style in enumerate(known):
        data = style_figures(corpus_counts(args.corpus, style, args.files_per_style,
                                           args.data_bars, args.seed))
        sequences, per_sample, used = sample(Controls.parse(style=style, bars=args.bars),
                                             args.seed + 7919 + index)
        style_seconds.append(per_sample)
        usual_ok += [bool(compliance.measure(s, used)["checks"].get("instruments", True))
                     for s in sequences]
        samples = style_figures([piece_counts(s) for s in sequences])
        samples["requested"] = ",".join(used.instruments)
        style_stats[style] = {"data": data, "samples": samples}
    result["style_stats"] = style_stats
    result["style_samples_subset_rate"] = (round(float(np.mean(usual_ok)), 4)
                                           if usual_ok else None)
    result["style_generation_seconds_per_sample"] = (round(float(np.mean(style_seconds)), 2)
                                                     if style_seconds else None)
    result["style_stats_seconds"] = round(time.perf_counter() - t0, 1)
    figures = ("pieces", "instruments") + SCALAR_FIGURES[:5] + ("families",) + \
        SCALAR_FIGURES[5:6] + ("meter",) + SCALAR_FIGURES[6:]
    print(f"\nStyle statistics: data (up to {args.files_per_style} corpus files, first "
          f"{args.data_bars} bars) | samples ({n} x {args.bars} bars, the style's usual "
          "instruments, meter and tempo):")
    for style, both in style_stats.items():
        print(f"  {style}")
        for figure in figures:
            data = (both["data"] or {}).get(figure)
            print(f"    {figure:<18}{show(data):<34}| {show(both['samples'].get(figure))}")
    correlations = {}
    for figure in SCALAR_FIGURES:
        correlations[figure] = spearman(
            [(s["data"] or {}).get(figure) for s in style_stats.values()],
            [s["samples"].get(figure) for s in style_stats.values()])
    both = [s for s in style_stats.values() if s["data"]]
    matches = {
        "meter": round(float(np.mean([s["data"]["meter"] == s["samples"]["meter"]
                                      for s in both])), 3) if both else None,
        "top_family": round(float(np.mean([
            next(iter(s["data"]["families"]), None) == next(iter(s["samples"]["families"]), None)
            for s in both])), 3) if both else None}
    result["rank_correlations"] = correlations
    result["matches"] = matches
    print(f"\nAgreement across {len(both)} styles (Spearman rank correlation, data vs samples):")
    for figure, rho in correlations.items():
        print(f"  {figure:<18}{show(rho)}")
    print(f"  same meter: {show(matches['meter'])}; same top family: "
          f"{show(matches['top_family'])}")
    result["seconds"] = round(time.perf_counter() - began, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
