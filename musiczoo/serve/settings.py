"""What a studio server allows: where it listens, who may call it, how much one request
may ask for, how long results live. Every limit is checked before any work starts."""
import dataclasses
from typing import Optional


@dataclasses.dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"          # localhost unless the operator says otherwise
    port: int = 8000
    token: Optional[str] = None      # when set: every /api/ call needs it (Bearer or ?token=)
    max_outputs: int = 8             # outputs / variations per request
    max_bars: int = 32
    max_upload_bytes: int = 2 * 2 ** 20
    result_ttl_seconds: float = 3600.0
    max_results: int = 200           # results kept at once: the oldest go first
    workers: int = 1                 # model work at once (2 cores: TF uses both for one)
    queue: int = 8                   # requests that may wait; more get 429
    results_dir: Optional[str] = None  # default: a fresh temporary folder, removed at exit
    preload: tuple = ()              # bundles loaded (and traced) at start-up
    audio: bool = True               # render a WAV for every output
