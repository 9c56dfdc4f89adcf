"""musiczoo_serve: the studio page and its HTTP API on this machine.

  musiczoo_serve                       # then open http://127.0.0.1:8000/  (API: /docs)
  musiczoo_serve --port=8080 --token=SECRET --preload=lookback_rnn,cat-mel_2bar_small

Binds to localhost unless --host says otherwise; with --token every /api/ call needs it.
Needs the [serve] extra: pip install -e '.[serve]'.
"""
from absl import flags

from musiczoo.scripts import common

FLAGS = flags.FLAGS
flags.DEFINE_string("host", "127.0.0.1", "Address to listen on (default: this machine only).")
flags.DEFINE_integer("port", 8000, "Port.")
flags.DEFINE_string("token", None, "When set, API calls need it (Authorization: Bearer ...).")
flags.DEFINE_integer("max_outputs", 8, "Most outputs or variations per request.")
flags.DEFINE_integer("max_bars", 32, "Most bars per request.")
flags.DEFINE_integer("max_upload_kb", 2048, "Largest MIDI upload, in KiB.")
flags.DEFINE_float("result_ttl", 3600, "Seconds a result (its MIDI, WAV, roll) is kept.")
flags.DEFINE_integer("max_results", 200, "Results kept at once (the oldest go first).")
flags.DEFINE_integer("queue", 8, "Requests that may wait for the model; more get 429.")
flags.DEFINE_list("preload", [], "Bundles to load (and keep warm) at start-up.")


def main():
    try:
        import uvicorn

        from musiczoo.serve.app import create_app
        from musiczoo.serve.settings import Settings
    except ImportError as error:
        raise ValueError(f"the studio needs the [serve] extra ({error.name} is missing): "
                         "pip install -e '.[serve]'") from None
    settings = Settings(host=FLAGS.host, port=FLAGS.port, token=FLAGS.token,
                        max_outputs=FLAGS.max_outputs, max_bars=FLAGS.max_bars,
                        max_upload_bytes=FLAGS.max_upload_kb * 1024,
                        result_ttl_seconds=FLAGS.result_ttl, queue=FLAGS.queue,
                        max_results=FLAGS.max_results,
                        preload=tuple(FLAGS.preload))
    print(f"musiczoo studio on http://{settings.host}:{settings.port}/ (API docs: /docs)")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
    return 0


def run():
    common.run(main, "musiczoo_serve")


if __name__ == "__main__":
    run()
