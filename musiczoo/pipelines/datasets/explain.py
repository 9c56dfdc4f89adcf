"""Why a dataset run kept so little: its statistics in words, with the setting to change.

    for line in explain(stats, extractor): print(line)
    # 1,540 melodies shorter than 7 bars (min_bars): lower it with --hparams=min_bars=...

Counter names are Magenta's (and ours for readers); each known one maps to a sentence.
"""
# counter -> (sentence with {n} and extractor fields, hparam that changes it or None)
_SENTENCES = {
    "melodies_discarded_too_short": (
        "{n} melodies shorter than {min_bars} bars", "min_bars"),
    "melodies_discarded_too_few_pitches": (
        "{n} melodies with fewer than {min_unique_pitches} different pitches",
        "min_unique_pitches"),
    "melodies_discarded_too_long": ("{n} melodies longer than allowed", "max_steps"),
    "polyphonic_tracks_discarded": (
        "{n} tracks with chords (a melody takes one note at a time)", None),
    "drum_tracks_discarded_too_short": (
        "{n} drum tracks shorter than {min_bars} bars", "min_bars"),
    "drum_tracks_discarded_too_long": ("{n} drum tracks longer than allowed", "max_steps"),
    "performances_discarded_too_short": (
        "{n} performances with fewer than {min_events} events", None),
    "performances_discarded_more_than_1_program": (
        "{n} performances mixing several instruments (programs)", None),
    "performances_discarded_zero_velocity": ("{n} performances with silent notes only", None),
    "tracks_discarded_not_4_4": (
        "{n} tracks not in 4/4 (MusicVAE windows are 4/4 bars, as Magenta's)", None),
    "windows_duplicate": ("{n} windows that repeat an earlier window of the same piece", None),
    "eval_windows_duplicate_of_training": (
        "{n} eval windows equal to a training window (kept out of eval)", None),
    "sequences_discarded_not_four_voices": (
        "{n} pieces without exactly four voices (one instrument or track each)", None),
    "grids_discarded_too_short": ("{n} four-voice pieces shorter than {min_steps} steps", None),
    "sequences_discarded_empty": ("{n} sequence parts with no notes", None),
    "sequences_discarded_because_multiple_tempos": (
        "{n} sequence parts with several tempos that could not be split", None),
    "sequences_discarded_because_multiple_time_signatures": (
        "{n} sequence parts with several meters that could not be split", None),
    "sequences_discarded_because_bad_time_signature": (
        "{n} sequence parts with an invalid time signature", None),
    "sequences_discarded_because_negative_time": ("{n} sequences with negative times", None),
    "non_integer_steps_per_bar": (
        "{n} parts whose meter gives no whole number of steps per bar", None),
    "events_not_encodable": ("{n} event sequences outside the codec's range", None),
}


def _fields(extractor):
    return {name: getattr(extractor, name) for name in dir(extractor)
            if not name.startswith("_") and not callable(getattr(extractor, name))}


def explain(stats, extractor=None):
    """Sentences for the reasons that dropped input, largest first."""
    fields = _fields(extractor) if extractor is not None else {}
    found = []
    for name, n in stats.counts.items():
        if not n:
            continue
        if name in _SENTENCES:
            sentence, hparam = _SENTENCES[name]
            try:
                text = sentence.format(n=f"{n:,}", **fields)
            except (KeyError, IndexError):
                text = sentence.split(" {")[0].format(n=f"{n:,}") + f" ({name})"
            if hparam:
                current = fields.get(hparam)
                now = f", now {current}" if current is not None else ""
                text += f" ({hparam}{now}): change it with --hparams={hparam}=..."
            found.append((n, text))
        elif name.startswith("files_failed_"):
            reason = name[len("files_failed_"):].replace("_", " ")
            found.append((n, f"{n:,} files could not be read ({reason}; the log names them)"))
        elif name.startswith("sequences_failed_") or name.startswith("records_failed_"):
            reason = name.split("_failed_", 1)[1].replace("_", " ")
            found.append((n, f"{n:,} sequences skipped: {reason}"))
    return [text for _, text in sorted(found, key=lambda item: -item[0])]


def no_examples_message(stats, extractor, counts, eval_ratio):
    """The one-line reason a run wrote no training examples."""
    if not stats["sequences_processed"]:
        read = stats["files_read"]
        failed = sum(v for k, v in stats.counts.items() if k.startswith("files_failed_"))
        if failed and not read:
            return f"0 examples: none of the {failed} input files could be read"
        return "0 examples: the input holds no music (no sequences were read)"
    if counts.get("eval") and not counts.get("training"):
        return (f"0 training examples: all {counts['eval']} examples fell into the eval split "
                f"(--eval_ratio={eval_ratio}); use --eval_ratio=0 or add more pieces")
    reasons = explain(stats, extractor)
    kind = getattr(extractor, "kind", "examples").replace("_", " ")
    because = "; ".join(reasons[:3]) if reasons else "nothing in the input fits this config"
    return (f"0 examples: {stats['sequences_processed']} sequences read, no {kind} kept. "
            f"Dropped: {because}")
