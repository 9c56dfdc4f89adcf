"""A bounded load test of the studio on localhost: none lost, none failed, latencies.

Starts the real app under uvicorn on a free 127.0.0.1 port, sends one request (cold: the
bundle loads and its loop traces), then --requests more (default 50), --concurrency at a
time (default 4), and stops. Every request asks /api/generate for --outputs outputs of
--bars bars with its own seed, key controls included; each answer must be 200 with every
output's MIDI fetchable. Traffic goes to 127.0.0.1 only.

    python benchmarks/serve_bench.py

The last line printed is one JSON object: requests, ok, failed, lost, p50_s, p95_s,
first_s, warm_s, first_over_warm.
"""
import argparse
import concurrent.futures
import json
import os
import pathlib
import socket
import sys
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--bundle", default="basic_rnn")
    parser.add_argument("--outputs", type=int, default=2)
    parser.add_argument("--bars", type=int, default=4)
    parser.add_argument("--audio", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    import httpx
    import uvicorn

    from musiczoo.serve.app import create_app
    from musiczoo.serve.settings import Settings
    port = free_port()
    settings = Settings(port=port, queue=args.concurrency + 1, audio=args.audio)
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"

    def one(seed):
        start = time.perf_counter()
        try:
            answer = httpx.post(base + "/api/generate", timeout=600, json={
                "bundle": args.bundle, "num_outputs": args.outputs, "bars": args.bars,
                "key": "D minor", "seed": seed})
            ok = answer.status_code == 200 and all(
                httpx.get(base + item["midi"], timeout=60).content[:4] == b"MThd"
                for item in answer.json()["items"])
            status = answer.status_code
        except httpx.HTTPError as error:
            ok, status = False, f"{type(error).__name__}"
        return ok, status, time.perf_counter() - start

    first_ok, _, first = one(0)
    with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
        results = list(pool.map(one, range(1, args.requests + 1)))
    warm_ok, _, warm = one(args.requests + 1)  # alone again: no queueing in its time
    server.should_exit = True
    thread.join(timeout=30)
    latencies = np.array([seconds for ok, _, seconds in results if ok])
    statuses = {}
    for _, status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    out = {"requests": args.requests, "concurrency": args.concurrency, "bundle": args.bundle,
           "outputs": args.outputs, "bars": args.bars, "audio": args.audio,
           "ok": int(sum(ok for ok, _, _ in results)), "statuses": statuses,
           "failed": int(sum(not ok for ok, _, _ in results)),
           "lost": args.requests - len(results),
           "p50_s": round(float(np.percentile(latencies, 50)), 3) if len(latencies) else None,
           "p95_s": round(float(np.percentile(latencies, 95)), 3) if len(latencies) else None,
           "first_s": round(first, 3), "first_ok": first_ok}
    out["warm_s"], out["warm_ok"] = round(warm, 3), warm_ok
    out["first_over_warm"] = round(first / warm, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
