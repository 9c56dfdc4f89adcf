"""TensorFlow Datasets MIDI datasets as an input (`tfds:groove/2bar-midionly[@split]`).

TFDS downloads a dataset the first time it is used. Offline, `tfds.load` retries that
download for minutes and ends in a long traceback, so `tfds_builder` checks first: a dataset
prepared under the TFDS data dir loads offline as usual; one that is not, with its download
host unreachable, is a one-line ValueError saying how to get it there.
"""
import difflib
import logging
import os
import re
import socket
import ssl
import threading
import urllib.parse
import urllib.request

from musiczoo.pipelines.readers.errors import ReadError
from musiczoo.pipelines.readers.files import generate_note_sequence_id
from musiczoo.pipelines.readers.midi import midi_bytes_to_sequence

logger = logging.getLogger(__name__)

# Where TFDS's own files (and most datasets' downloads) live: probed when a builder names
# no download URL.
TFDS_HOST = "storage.googleapis.com"
PROBE_TIMEOUT = 3.0  # seconds


def connection_problem(host, port=443, timeout=PROBE_TIMEOUT):
    """None when `host` answers on `port` within `timeout` seconds, else why not, in a few
    words. Port 443 must also complete a TLS handshake (some sandboxes accept every TCP
    connection); through an HTTPS proxy, if one is set, only the proxy is tried. A thread
    bounds the whole probe, as socket timeouts do not cover the name lookup."""
    tls = port == 443
    proxy = urllib.request.getproxies().get("https")
    if proxy and not urllib.request.proxy_bypass(host):
        parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        tls = False
    outcome = []

    def connect():
        try:
            with socket.create_connection((host, port), timeout=timeout) as connection:
                if tls:
                    ssl.create_default_context().wrap_socket(
                        connection, server_hostname=host).close()
            outcome.append(None)
        except (OSError, ssl.SSLError) as error:
            outcome.append(getattr(error, "strerror", None) or str(error)
                           or type(error).__name__)

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return outcome[0] if outcome else f"no answer in {timeout:g} s"


def _download_hosts(builder):
    """(host, port) pairs the builder downloads from, per its checksums file."""
    try:
        urls = list(builder.url_infos or ())
    except Exception:  # noqa: BLE001 - a builder without a checksums file
        urls = []
    hosts = []
    for url in urls:
        parts = urllib.parse.urlsplit(url)
        if parts.hostname and parts.scheme in ("http", "https"):
            host = (parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
            if host not in hosts:
                hosts.append(host)
    return hosts[:3] or [(TFDS_HOST, 443)]


class _QuietAbsl:
    """TFDS logs 'Variant folder ... has no dataset_info.json' whenever it looks for a
    dataset that is not there yet: true, but beside the point here."""

    def __enter__(self):
        self.logger = logging.getLogger("absl")
        self.level = self.logger.level
        self.logger.setLevel(logging.ERROR)

    def __exit__(self, *exc):
        self.logger.setLevel(self.level)


def _prepared(builder):
    with _QuietAbsl():
        return builder.is_prepared()


def _name_error(tfds, name, error):
    """A one-line ValueError for a dataset name (or its config) TFDS does not know."""
    base, _, config = re.sub(r":[\d.]+$", "", name).partition("/")  # name/config:version
    known = tfds.list_builders(with_community_datasets=False)
    if base not in known:
        close = difflib.get_close_matches(base, known, n=3)
        hint = (f"; did you mean {' or '.join(close)}?" if close
                else " (tfds.list_builders() lists them)")
        return ValueError(f"tfds:{name}: TensorFlow Datasets has no dataset {base!r}{hint}")
    configs = [c.name for c in tfds.builder_cls(base).BUILDER_CONFIGS]
    if config and config not in configs:
        return ValueError(f"tfds:{name}: {base} has no config {config!r}; "
                          + (f"its configs: {', '.join(configs)}" if configs
                             else f"it has none (use tfds:{base})"))
    first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
    # 'Failed to construct dataset "groove", builder_kwargs "{...}": <the reason>'
    reason = re.sub(r'^Failed to construct .*?}": ', "", first_line)
    return ValueError(f"tfds:{name}: {reason}")


def tfds_builder(name, data_dir=None):
    """The TFDS builder for `name` (e.g. "groove/2bar-midionly"), checked to be readable:
    already prepared under the TFDS data dir ($TFDS_DATA_DIR, default ~/tensorflow_datasets,
    or `data_dir`), or its download host reachable. Else a one-line ValueError."""
    import tensorflow_datasets as tfds  # Deferred: heavy, and only for this input.

    # TFDS reads $TFDS_DATA_DIR once, at import; read it here so a changed one counts.
    data_dir = data_dir or os.environ.get("TFDS_DATA_DIR") or None
    try:
        with _QuietAbsl():
            builder = tfds.builder(name, data_dir=data_dir)
    except (ValueError, AssertionError) as error:  # unknown name, config or version
        raise _name_error(tfds, name, error) from None
    if _prepared(builder):
        return builder
    for host, port in _download_hosts(builder):
        problem = connection_problem(host, port)
        if problem:
            root = str(builder.data_dir_root)
            folder = os.path.relpath(str(builder.data_dir), root)
            raise ValueError(
                f"tfds:{name}: TFDS needs network access to download {name} ({host}:{port} "
                f"not reachable: {problem}); prepare it on a machine with network "
                f"(tfds build {name}) and copy its folder {folder} into {root} (or set "
                f"$TFDS_DATA_DIR to a folder holding it)")
    return builder


def tfds_sequences(name, split="train", stats=None, builder=None):
    """Yields a TFDS dataset's MIDI examples as NoteSequences (downloads it when online)."""
    import tensorflow_datasets as tfds

    builder = builder or tfds_builder(name)
    if not _prepared(builder):
        builder.download_and_prepare()

    dataset = builder.as_dataset(split=split)
    if "midi" not in dataset.element_spec:
        raise ValueError(f"tfds:{name} has no 'midi' feature (it has "
                         f"{sorted(dataset.element_spec)}); only MIDI datasets can be read")
    for index, example in enumerate(tfds.as_numpy(dataset)):
        example_id = example.get("id", str(index))
        example_id = example_id.decode() if isinstance(example_id, bytes) else example_id
        try:
            sequence = midi_bytes_to_sequence(example["midi"], f"tfds:{name}/{example_id}")
        except ReadError as error:  # one bad MIDI in a big dataset: count it, go on
            logger.warning("skipped %s", error)
            if stats is not None:
                stats.count(f"files_failed_{error.reason}")
            continue
        sequence.collection_name = name
        sequence.filename = example_id
        sequence.id = generate_note_sequence_id(example_id, name, "midi")
        yield sequence
