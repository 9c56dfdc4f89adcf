"""Model work for the server: bundles loaded once and kept (their compiled sampling loops
stay warm), and a bounded gate: `workers` jobs run at once, `queue` more may wait, and
anything beyond is refused at once (the API answers 429) instead of piling up."""
import threading

from musiczoo.bundles import load_bundle


class Busy(Exception):
    """The server is full: the request was not queued."""


class Workshop:
    def __init__(self, workers=1, queue=8):
        self.running = threading.BoundedSemaphore(max(1, workers))
        self.capacity = max(1, workers) + max(0, queue)
        self.waiting = 0
        self.lock = threading.Lock()
        self.models = {}
        self.model_lock = threading.Lock()

    def model(self, name):
        """The loaded bundle (loaded on first use, then kept)."""
        with self.model_lock:
            if name not in self.models:
                self.models[name] = load_bundle(name)
            return self.models[name]

    def run(self, job):
        """job() under the gate; raises Busy when `workers + queue` jobs are in already."""
        with self.lock:
            if self.waiting >= self.capacity:
                raise Busy()
            self.waiting += 1
        try:
            with self.running:
                return job()
        finally:
            with self.lock:
                self.waiting -= 1

    @property
    def load(self):
        with self.lock:
            return self.waiting
