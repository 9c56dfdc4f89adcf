"""The bundle file format (`.mzb`): one file holding everything needed to rebuild a trained model.

Layout (all integers little-endian):

    offset 0   magic              8 bytes  b"\\x89MZB\\r\\n\\x1a\\n"
    offset 8   format_version     uint32
    offset 12  header_length      uint64   bytes of JSON header
    offset 20  data_length        uint64   bytes of the weight data section
    offset 28  prelude_crc32      uint32   CRC-32 of bytes 0..27
    offset 32  header             JSON, ASCII: musiczoo_version, header_version, family,
                                  config_name, config, codec, metadata, weights (a list of
                                  {name, dtype, shape, offset, nbytes}); what each means, per
                                  header_version, and the migrations: bundle_schema.py
               zero padding       up to the next multiple of 64 (data_start)
    data_start weight data        raw little-endian C-order arrays, each at a 64-aligned offset
                                  (relative to data_start), zero padding between
    end - 32   sha256             over every byte before it

The magic follows PNG: the high bit catches 7-bit transfers, CR LF catches newline
conversion, 0x1A stops `type` on Windows. The prelude (first 32 bytes) and the
`musiczoo_version` key of the header are fixed for all format versions, so an old reader
can always say which version wrote a file it cannot read.

Loading never executes code from the file: the header is JSON and weights are raw bytes
of a whitelisted plain dtype. No pickle, no Keras deserialisation.

The SHA-256 at the end catches damage (a bad disk or transfer, a careless edit); it is a
checksum, not a signature: whoever edits a file can recompute it, and it says nothing
about who made the file. So a bundle that passes it is still untrusted input, and its
header is checked field by field before anything is built from it (bundles.py).
"""
import dataclasses
import datetime
import hashlib
import json
import os
import pathlib
import platform
import struct
import sys
import zlib
from typing import NamedTuple

import numpy as np

from musiczoo import bundle_schema, outputs
from musiczoo.version import __version__

FORMAT_VERSION = 1
EXTENSION = ".mzb"

MAGIC = b"\x89MZB\r\n\x1a\n"
_PRELUDE = struct.Struct("<8sIQQ")  # magic, format_version, header_length, data_length
_CRC = struct.Struct("<I")
PRELUDE_SIZE = _PRELUDE.size + _CRC.size  # 32
ALIGN = 64  # lets readers map arrays straight from the buffer, and matches cache lines
CHECKSUM_SIZE = 32
_MAX_HEADER = 256 * 2**20  # a sanity bound: a real header is kilobytes

REASONS = ("not_a_bundle", "truncated", "corrupted", "bad_header", "future_version",
           "unknown_family", "mismatched_weights", "bad_weights")


# The dtype whitelist: name in the header -> numpy dtype. Plain numbers only, never object.
DTYPES = {name: np.dtype(name) for name in (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64")}
try:  # bfloat16 comes from ml_dtypes (a TensorFlow / JAX dependency): optional here
    import ml_dtypes
    DTYPES["bfloat16"] = np.dtype(ml_dtypes.bfloat16)
except ImportError:
    pass
_DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}
_BIG_ENDIAN = sys.byteorder == "big"


class BundleError(ValueError):
    """A file that cannot be loaded as a bundle. `reason` is one of REASONS."""

    def __init__(self, path, reason, detail):
        self.path = str(path)
        self.reason = reason
        self.detail = detail
        super().__init__(f"{self.path}: {detail} [{reason}]")


@dataclasses.dataclass
class BundleContents:
    family: str
    config_name: str
    config: dict
    codec: dict
    weights: list  # list[tuple[str, np.ndarray]], in the order they were written
    metadata: dict  # as written, plus "sha256": the file's verified checksum (hex)
    format_version: int
    header_version: int = bundle_schema.HEADER_VERSION  # after migration (bundle_schema)


class WeightInfo(NamedTuple):
    name: str
    dtype: str
    shape: tuple
    offset: int  # relative to the start of the data section
    nbytes: int


@dataclasses.dataclass
class BundleHeader:
    """Everything but the weight values; what `read_header` returns."""
    family: str
    config_name: str
    config: dict
    codec: dict
    metadata: dict  # "sha256" here is the stored checksum, not verified by read_header
    weight_index: list  # list[WeightInfo]
    format_version: int
    file_size: int


# ---------------------------------------------------------------------------------------
# Writing


def write_bundle(path, *, family, config_name, config, codec, weights, metadata=None,
                 overwrite=True):
    """Writes a bundle atomically (temp file + rename) and returns its path.

    `weights`: (name, array) pairs or a mapping, e.g. `[(v.path, v.numpy()) for v in
    model.weights]`. `config`, `codec`, `metadata`: JSON-able dicts (tuples come back as lists).
    Metadata gets `versions` and `created` (kept if given); a stale `sha256` is dropped.
    Everything is validated before any file is created, and a failed save never leaves a
    partial bundle under `path` (an existing bundle there stays intact). An existing file
    is replaced only with `overwrite`, and never when it is not a regular file.
    """
    path = pathlib.Path(path).expanduser()
    for field, value in (("family", family), ("config_name", config_name)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"{path}: bundle {field} must be a non-empty string, got {value!r}")
    sections = {}
    for field, value in (("config", config), ("codec", codec), ("metadata", metadata or {})):
        if not isinstance(value, dict):
            raise TypeError(f"{path}: bundle {field} must be a dict, got {type(value).__name__}")
        sections[field] = _jsonable(value, field, path)
    arrays = _prepare_weights(weights, path)
    meta = _fill_metadata(sections["metadata"], path)

    index, offset = [], 0
    for name, array in arrays:
        offset = _align(offset)
        index.append({"name": name, "dtype": _DTYPE_NAMES[array.dtype],
                      "shape": list(array.shape), "offset": offset, "nbytes": array.nbytes})
        offset += array.nbytes
    data_length = offset
    header = {"musiczoo_version": __version__, "header_version": bundle_schema.HEADER_VERSION,
              "family": family, "config_name": config_name,
              "config": sections["config"], "codec": sections["codec"], "metadata": meta,
              "weights": index}
    header_bytes = json.dumps(header, ensure_ascii=True, indent=1).encode("ascii")
    prelude = _PRELUDE.pack(MAGIC, FORMAT_VERSION, len(header_bytes), data_length)
    prelude += _CRC.pack(zlib.crc32(prelude))

    outputs.output_dir(path.parent)
    with outputs.atomic_file(path, overwrite) as f:
        sha = hashlib.sha256()

        def put(data):
            sha.update(data)
            f.write(data)

        put(prelude)
        put(header_bytes)
        put(bytes(_align(PRELUDE_SIZE + len(header_bytes)) - PRELUDE_SIZE - len(header_bytes)))
        written = 0
        for (name, array), entry in zip(arrays, index):
            put(bytes(entry["offset"] - written))
            put(array.reshape(-1).view(np.uint8))  # zero-copy view of the raw bytes
            written = entry["offset"] + entry["nbytes"]
        f.write(sha.digest())
    return path


def _align(n):
    return -(-n // ALIGN) * ALIGN


def _jsonable(value, where, path):
    """A JSON-safe copy of `value`; names the offending entry instead of json's bare TypeError."""
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]", path) for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for key, v in value.items():
            if not isinstance(key, str):  # json would silently turn 1 into "1"
                raise TypeError(f"{path}: {where} has a non-string key {key!r}; "
                                "bundle sections must be JSON objects")
            out[key] = _jsonable(v, f"{where}[{key!r}]", path)
        return out
    raise TypeError(f"{path}: {where} is a {type(value).__name__}, which a bundle cannot store "
                    "(allowed: dict, list, str, int, float, bool, None)")


def _prepare_weights(weights, path):
    if isinstance(weights, dict):
        weights = list(weights.items())
    arrays, seen = [], set()
    for i, item in enumerate(weights):
        try:
            name, value = item
        except (TypeError, ValueError):
            raise TypeError(f"{path}: weights[{i}] is not a (name, array) pair") from None
        if not isinstance(name, str) or not name:
            raise TypeError(f"{path}: weights[{i}] name must be a non-empty string, got {name!r}")
        if name in seen:  # loaders match by name; a duplicate would be ambiguous
            raise ValueError(f"{path}: duplicate weight name {name!r}")
        seen.add(name)
        array = np.asarray(value)
        if not array.dtype.isnative:
            array = array.astype(array.dtype.newbyteorder("="))
        if array.dtype not in _DTYPE_NAMES:
            raise TypeError(f"{path}: weight {name!r} has dtype {array.dtype}, which a bundle "
                            f"cannot store (allowed: {', '.join(DTYPES)})")
        if not array.flags.c_contiguous:  # not ascontiguousarray: it turns 0-d into 1-d
            array = array.copy(order="C")
        if _BIG_ENDIAN:
            array = array.byteswap()
        arrays.append((name, array))
    return arrays


def _versions():
    versions = {"musiczoo": __version__, "numpy": np.__version__,
                "python": platform.python_version()}
    for module in ("tensorflow", "keras"):  # only if already imported: never import TF here
        version = getattr(sys.modules.get(module), "__version__", None)
        if version:
            versions[module] = str(version)
    return versions


def _fill_metadata(meta, path):
    meta = dict(meta)
    meta.pop("sha256", None)  # belongs to the file it was read from, not to this one
    versions = meta.get("versions") or {}
    if not isinstance(versions, dict):
        raise TypeError(f"{path}: metadata['versions'] must be a dict")
    meta["versions"] = {**versions, **_versions()}
    meta.setdefault("created", datetime.datetime.now(datetime.timezone.utc)
                    .isoformat(timespec="seconds"))
    return meta


# ---------------------------------------------------------------------------------------
# Reading


def read_bundle(path, known_families=None):
    """Loads and fully validates a bundle; raises BundleError naming the file and the problem."""
    path = pathlib.Path(path).expanduser()
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        version, header_length, data_start, data_length = _read_prelude(f, path, size)
        buf = bytearray(size)
        f.seek(0)
        if f.readinto(buf) != size:  # shrank since fstat: someone is still writing it
            _fail(path, "truncated", "the file changed size while it was being read")
    view = memoryview(buf)
    if hashlib.sha256(view[:-CHECKSUM_SIZE]).digest() != bytes(view[-CHECKSUM_SIZE:]):
        _fail(path, "corrupted", "SHA-256 checksum mismatch: the file was changed after it was "
                                 "written (disk or transfer error, or edited by hand)")
    header = _parse_header(bytes(view[PRELUDE_SIZE:PRELUDE_SIZE + header_length]), path,
                           data_length)
    _check_family(header["family"], known_families, path)
    weights = []
    for entry in header["index"]:
        array = np.frombuffer(buf, dtype=DTYPES[entry.dtype], count=_count(entry.shape),
                              offset=data_start + entry.offset).reshape(entry.shape)
        if _BIG_ENDIAN:
            array = array.byteswap()
        if array.dtype.kind == "f" or entry.dtype == "bfloat16":
            bad = array.size - int(np.isfinite(array.astype(np.float32)).sum())
            if bad:
                _fail(path, "bad_weights",
                      f"weight {entry.name!r} holds {bad} non-finite values (NaN or infinity); "
                      "the model diverged in training, or the file was edited")
        weights.append((entry.name, array))
    meta = dict(header["metadata"], sha256=bytes(view[-CHECKSUM_SIZE:]).hex())
    return bundle_schema.migrate(BundleContents(
        family=header["family"], config_name=header["config_name"], config=header["config"],
        codec=header["codec"], weights=weights, metadata=meta, format_version=version,
        header_version=header["header_version"]))


def read_header(path, known_families=None):
    """Reads everything but the weights, cheaply (for listing bundles).

    Validates magic, format version, sizes and the header, but not the SHA-256: that needs
    every byte (read_bundle, or bundle_info(verify=True), check it).
    """
    path = pathlib.Path(path).expanduser()
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        version, header_length, _, data_length = _read_prelude(f, path, size)
        f.seek(PRELUDE_SIZE)
        raw = f.read(header_length)
        f.seek(size - CHECKSUM_SIZE)
        checksum = f.read(CHECKSUM_SIZE)
    if len(raw) != header_length or len(checksum) != CHECKSUM_SIZE:
        _fail(path, "truncated", "the file changed size while it was being read")
    header = _parse_header(raw, path, data_length)
    _check_family(header["family"], known_families, path)
    return BundleHeader(family=header["family"], config_name=header["config_name"],
                        config=header["config"], codec=header["codec"],
                        metadata=dict(header["metadata"], sha256=checksum.hex()),
                        weight_index=header["index"], format_version=version, file_size=size)


def _fail(path, reason, detail):
    raise BundleError(path, reason, detail)


# Files people mistake for bundles, named in the error to make the mix-up obvious.
_SIGNATURES = [(b"MThd", "a MIDI file"), (b"PK\x03\x04", "a zip archive (a .keras file?)"),
               (b"\x89HDF", "an HDF5 file (a Keras .h5 file?)"), (b"\x80", "a pickle")]


def _read_prelude(f, path, size):
    """Checks magic, prelude CRC, version and total size; returns the layout numbers."""
    head = f.read(PRELUDE_SIZE)
    if size == 0:
        _fail(path, "not_a_bundle", "empty file, not a musiczoo bundle")
    if head[:len(MAGIC)] != MAGIC:
        if len(head) < len(MAGIC) and MAGIC.startswith(head):
            _fail(path, "truncated", f"file is only {size} bytes, cut off inside the magic")
        if head[:4] == MAGIC[:4]:
            _fail(path, "corrupted", "the magic bytes were altered, typically by a text-mode "
                                     "(newline-converting) transfer; copy it in binary mode")
        kind = next((what for sig, what in _SIGNATURES if head.startswith(sig)), None)
        _fail(path, "not_a_bundle", "not a musiczoo bundle" + (
            f" (it looks like {kind})" if kind else " (wrong magic bytes)"))
    if len(head) < PRELUDE_SIZE:
        _fail(path, "truncated", f"file is only {size} bytes, cut off inside the "
                                 f"{PRELUDE_SIZE}-byte prelude")
    _, version, header_length, data_length = _PRELUDE.unpack(head[:_PRELUDE.size])
    if zlib.crc32(head[:_PRELUDE.size]) != _CRC.unpack(head[_PRELUDE.size:])[0]:
        _fail(path, "corrupted", "prelude checksum mismatch: the first 32 bytes were changed")
    if version == 0:
        _fail(path, "bad_header", "format version 0 is not valid")
    if version > FORMAT_VERSION:
        writer = _peek_writer(f, header_length, size)
        _fail(path, "future_version",
              f"bundle format version {version} was written by {writer}; this musiczoo "
              f"({__version__}) reads format versions up to {FORMAT_VERSION}. "
              "Upgrade musiczoo (pip install -U musiczoo) to load it")
    if header_length > _MAX_HEADER:
        _fail(path, "bad_header", f"header length {header_length} is implausibly large")
    data_start = _align(PRELUDE_SIZE + header_length)
    expected = data_start + data_length + CHECKSUM_SIZE
    if size < expected:
        _fail(path, "truncated", f"file is {size} bytes but its header says {expected}; it was "
                                 "probably cut off during a copy, download or save")
    if size > expected:
        _fail(path, "corrupted", f"file has {size - expected} unexpected bytes after the "
                                 "checksum (appended to, or two files joined)")
    return version, header_length, data_start, data_length


def _peek_writer(f, header_length, size):
    """Best effort: `musiczoo_version` is the one header key every format version keeps."""
    try:
        if PRELUDE_SIZE + header_length <= size and header_length <= _MAX_HEADER:
            f.seek(PRELUDE_SIZE)
            writer = json.loads(f.read(header_length)).get("musiczoo_version")
            if isinstance(writer, str):
                return f"musiczoo {writer}"
    except (ValueError, AttributeError):
        pass
    return "a newer musiczoo"


def _parse_header(raw, path, data_length):
    """Parses and validates the JSON header; returns it with `index` as WeightInfo list."""
    def bad(detail):
        _fail(path, "bad_header", detail)

    try:
        header = json.loads(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as e:
        bad(f"header is not readable JSON ({e})")
    if not isinstance(header, dict):
        bad("header is not a JSON object")
    for key, kind in (("family", str), ("config_name", str), ("config", dict),
                      ("codec", dict), ("metadata", dict), ("weights", list)):
        if not isinstance(header.get(key), kind):
            bad(f"header field {key!r} is missing or not a {kind.__name__}")
    if not header["config_name"] or not header["family"]:
        bad("header fields 'family' and 'config_name' must not be empty")
    header["header_version"] = bundle_schema.header_version(
        header, lambda reason, detail: _fail(path, reason, detail))
    index, names = [], set()
    for i, entry in enumerate(header["weights"]):
        if not isinstance(entry, dict):
            bad(f"weight entry {i} is not an object")
        name, dtype, shape = entry.get("name"), entry.get("dtype"), entry.get("shape")
        offset, nbytes = entry.get("offset"), entry.get("nbytes")
        if not isinstance(name, str) or not name or name in names:
            bad(f"weight entry {i} has a missing or duplicate name {name!r}")
        names.add(name)
        if not isinstance(dtype, str) or dtype not in DTYPES:
            bad(f"weight {name!r} has unknown dtype {dtype!r} (known: {', '.join(DTYPES)})")
        if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
            bad(f"weight {name!r} has an invalid shape {shape!r}")
        if not (_is_count(offset) and _is_count(nbytes)):
            bad(f"weight {name!r} has an invalid offset or byte length")
        if nbytes != _count(shape) * DTYPES[dtype].itemsize:
            bad(f"weight {name!r}: shape {shape} of {dtype} needs "
                f"{_count(shape) * DTYPES[dtype].itemsize} bytes, the index says {nbytes}")
        if offset + nbytes > data_length:
            bad(f"weight {name!r} lies outside the data section "
                f"(bytes {offset}..{offset + nbytes} of {data_length})")
        index.append(WeightInfo(name, dtype, tuple(shape), offset, nbytes))
    # A valid checksum only says the file is as its writer made it: a hand-made header
    # could still point two arrays at the same bytes.
    spans = sorted((entry.offset, entry.offset + entry.nbytes, entry.name)
                   for entry in index if entry.nbytes)
    for (_, end, first), (start, _, second) in zip(spans, spans[1:]):
        if start < end:
            bad(f"weights {first!r} and {second!r} overlap in the data section")
    header["index"] = index
    return header


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _count(shape):
    n = 1
    for d in shape:  # Python ints: np.prod would overflow silently on absurd shapes
        n *= d
    return n


def _check_family(family, known_families, path):
    if known_families is None:
        return
    known = sorted(known_families)
    if family not in known:
        _fail(path, "unknown_family",
              f"model family {family!r} is not known to this musiczoo ({__version__}); "
              f"known families: {', '.join(known) or 'none'}")


# ---------------------------------------------------------------------------------------
# Summary


def bundle_info(path, verify=True):
    """A human-readable summary; `verify` also checks the SHA-256 (reads the whole file)."""
    header = read_header(path)
    if verify:
        read_bundle(path)
    meta = header.metadata
    rows = [("family", header.family), ("config", header.config_name)]
    for key, label in (("description", "description"), ("training_data", "training data"),
                       ("steps", "steps")):
        if key in meta:
            rows.append((label, meta[key]))
    metrics = meta.get("eval_metrics")
    if isinstance(metrics, dict) and metrics:
        rows.append(("eval metrics", ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items())))
    index = header.weight_index
    params = sum(_count(entry.shape) for entry in index)
    dtypes = ", ".join(dict.fromkeys(entry.dtype for entry in index))
    rows.append(("weights", f"{len(index)} arrays, {params:,} values ({dtypes or 'none'})"))
    rows.append(("size", _human_size(header.file_size)))
    versions = meta.get("versions")
    rows.append(("format", f"version {header.format_version}"))
    if isinstance(versions, dict):  # metadata is free-form: show it only if it has the usual shape
        rows.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items())))
    if "created" in meta:
        rows.append(("created", meta["created"]))
    rows.append(("sha256", meta["sha256"] + ("" if verify else " (not verified)")))
    width = max(len(label) for label, _ in rows) + 2
    return "\n".join([str(path)] + [f"  {label + ':':<{width}}{value}" for label, value in rows])


def _human_size(n):
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
