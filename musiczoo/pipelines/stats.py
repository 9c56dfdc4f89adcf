"""Counting what a pipeline kept, dropped, and why (Magenta's statistics, as one small class)."""
import collections


class SequenceError(ValueError):
    """One sequence's data cannot go through a pipeline stage (it cannot be quantized, it
    has no four voices, ...). Dataset runs count it as `sequences_failed_<reason>` and go
    on; any other exception is a bug and stops the run."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason


class Stats:
    """Named integer counters plus per-name histograms, mergeable across workers and stages.

    Every transform receives a Stats and increments a counter for each thing it drops,
    naming the reason (`melodies_discarded_too_short`), so a run can always say where
    its input went.
    """

    def __init__(self):
        self.counts = collections.Counter()
        self.histograms = collections.defaultdict(collections.Counter)

    def count(self, name, n=1):
        self.counts[name] += n

    def observe(self, name, value):
        """Adds `value` to the histogram `name` (e.g. melody lengths in bars)."""
        self.histograms[name][value] += 1

    def merge(self, other):
        self.counts.update(other.counts)
        for name, hist in other.histograms.items():
            self.histograms[name].update(hist)
        return self

    def __getitem__(self, name):
        return self.counts[name]

    def as_dict(self):
        return {"counts": dict(sorted(self.counts.items())),
                        "histograms": {k: dict(sorted(v.items())) for k, v in sorted(self.histograms.items())}}

    def report(self, title="statistics"):
        lines = [f"{title}:"]
        width = max((len(k) for k in self.counts), default=0)
        for name, value in sorted(self.counts.items()):
            lines.append(f"  {name:<{width}}  {value}")
        for name, hist in sorted(self.histograms.items()):
            lines.append(f"  {name}:")
            for value, n in sorted(hist.items()):
                lines.append(f"    {value}: {n}")
        return "\n".join(lines)

    def __repr__(self):
        return f"Stats({dict(self.counts)})"
