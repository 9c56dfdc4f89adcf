"""Progress lines with rate and ETA for long work (converting files, building datasets, training)."""
import sys
import time


class Progress:
    """Prints `label: done/total (pct) rate/s ETA` to stderr, at most every `interval` seconds.

    `total` may be None when unknown (then no percentage or ETA is shown).
    """

    def __init__(self, label, total=None, unit="items", interval=2.0, stream=None, enabled=True):
        self.label, self.total, self.unit, self.interval = label, total, unit, interval
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.done = 0
        self.start = time.monotonic()
        self._last = 0.0

    def update(self, n=1, extra=""):
        self.done += n
        now = time.monotonic()
        if self.enabled and (now - self._last >= self.interval or self.done == self.total):
            self._last = now
            self.stream.write(self.line(now, extra) + "\n")
            self.stream.flush()

    def line(self, now=None, extra=""):
        elapsed = max((now or time.monotonic()) - self.start, 1e-9)
        rate = self.done / elapsed
        parts = [f"{self.label}: {self.done}"]
        if self.total:
            parts[0] += f"/{self.total} ({100.0 * self.done / self.total:.0f}%)"
        parts.append(f"{rate:.1f} {self.unit}/s")
        if self.total and rate > 0:
            parts.append(f"ETA {format_seconds((self.total - self.done) / rate)}")
        if extra:
            parts.append(extra)
        return "  ".join(parts)

    def finish(self, extra=""):
        if self.enabled:
            elapsed = time.monotonic() - self.start
            self.stream.write(f"{self.label}: {self.done} {self.unit} in {format_seconds(elapsed)}"
                                                + (f"  {extra}" if extra else "") + "\n")
            self.stream.flush()


def format_seconds(seconds):
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
