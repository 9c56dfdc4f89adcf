"""Results on disk, owned by the server: a folder per result under one private root, files
named by the server only, deleted when they expire. No path from a request is ever used:
a request names a result id (32 hex digits) and a file name that must be in its index."""
import json
import re
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path

_ID = re.compile(r"[0-9a-f]{32}")


class ResultStore:
    def __init__(self, root=None, ttl_seconds=3600.0, max_results=200):
        self.max_results = int(max_results)
        self.owned = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="musiczoo-studio-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.ttl = float(ttl_seconds)
        self.lock = threading.Lock()

    def new(self):
        """(result id, its folder); the oldest results go first when max_results are
        kept already, so the folder stays bounded however many requests come."""
        self.sweep()
        with self.lock:
            folders = sorted((f for f in self.root.iterdir() if f.is_dir()),
                             key=lambda f: f.stat().st_mtime)
            for folder in folders[:max(len(folders) - self.max_results + 1, 0)]:
                shutil.rmtree(folder, ignore_errors=True)
        result_id = uuid.uuid4().hex
        folder = self.root / result_id
        folder.mkdir()
        return result_id, folder

    def save(self, result_id, record):
        record = dict(record, id=result_id, expires=time.time() + self.ttl)
        path = self.root / result_id / "result.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, default=str))
        tmp.replace(path)
        return record

    def get(self, result_id):
        """The result's record, or None (unknown, malformed or expired id)."""
        if not isinstance(result_id, str) or not _ID.fullmatch(result_id):
            return None
        path = self.root / result_id / "result.json"
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if record.get("expires", 0) < time.time():
            self._remove(result_id)
            return None
        return record

    def file(self, result_id, name):
        """The path of a file the result lists, or None."""
        record = self.get(result_id)
        if record is None or name not in record.get("files", []):
            return None
        path = self.root / result_id / name
        return path if path.is_file() else None

    def sweep(self):
        now = time.time()
        with self.lock:
            for folder in self.root.iterdir():
                record = folder / "result.json"
                try:
                    expires = json.loads(record.read_text()).get("expires", 0)
                except (OSError, ValueError):
                    expires = folder.stat().st_mtime + self.ttl
                if expires < now:
                    shutil.rmtree(folder, ignore_errors=True)

    def _remove(self, result_id):
        shutil.rmtree(self.root / result_id, ignore_errors=True)

    def close(self):
        if self.owned:
            shutil.rmtree(self.root, ignore_errors=True)
