"""Progress lines with rate and ETA for long work (converting files, building datasets, training)."""
import sys
import time


class Progress:
    """On a terminal, a tqdm progress bar; otherwise (a log file, a pipe, CI) it prints
    `label: done/total (pct) rate/s ETA` lines to stderr, at most every `interval` seconds.

    `total` may be None when unknown (then no percentage or ETA is shown).
    """

    def __init__(self, label, total=None, unit="items", interval=2.0, stream=None, enabled=True):
        self.label, self.total, self.unit, self.interval = label, total, unit, interval
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.done = 0
        self.start = time.monotonic()
        self._last = 0.0
        self._bar = None
        if enabled and _is_terminal(self.stream):
            from tqdm import tqdm
            self._bar = tqdm(total=total, desc=label, unit=unit.rstrip("s") or unit,
                             file=self.stream, mininterval=0.5, dynamic_ncols=True, leave=False)

    def update(self, n=1, extra=""):
        self.done += n
        now = time.monotonic()
        if self._bar is not None:
            self._bar.update(n)
            if extra and now - self._last >= 0.5:
                self._last = now
                self._bar.set_postfix_str(extra, refresh=False)
            return
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
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self.enabled:
            elapsed = time.monotonic() - self.start
            self.stream.write(f"{self.label}: {self.done} {self.unit} in {format_seconds(elapsed)}"
                                                + (f"  {extra}" if extra else "") + "\n")
            self.stream.flush()


def _is_terminal(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def format_seconds(seconds):
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
