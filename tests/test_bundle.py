"""Bundle format: round trips, a real Keras model, and every way a file gets refused.

The layout helpers below re-implement the documented layout independently of the module,
so these tests also pin the on-disk format.
"""
import hashlib
import json
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

from musiczoo import bundle
from musiczoo.bundle import BundleError, read_bundle, read_header, write_bundle
from musiczoo.outputs import OutputError

MAGIC = b"\x89MZB\r\n\x1a\n"


def _weights():
    rng = np.random.default_rng(0)
    weights = [
        ("model/lstm/kernel", rng.standard_normal((4, 32)).astype(np.float32)),
        ("model/lstm/bias", rng.standard_normal(32).astype(np.float16)),
        ("model/step", np.array(1234, np.int64)),  # 0-d
        ("model/empty", np.zeros((0, 7), np.float32)),
        ("model/ids", np.arange(-5, 7, dtype=np.int32).reshape(3, 4)),
        ("model/mask", np.array([True, False, True])),
        ("model/fortran", np.asfortranarray(rng.standard_normal((3, 5)))),  # float64, not C order
    ]
    try:
        import ml_dtypes
        weights.append(("model/bf16", np.linspace(-2, 2, 9).astype(ml_dtypes.bfloat16)))
    except ImportError:
        pass
    return weights


CONFIG = {"hidden": [8, 8], "dropout": 0.5, "attn_length": 40, "name": "attention_rnn",
          "nested": {"a": None, "b": True}}
CODEC = {"class": "MelodyOneHotCodec", "min_note": 48, "max_note": 84}
META = {"description": "tiny test model", "training_data": "none", "steps": 20,
        "eval_metrics": {"loss": 1.25, "accuracy": 0.5}}


def _write(path, **overrides):
    kwargs = dict(family="melody_rnn", config_name="attention_rnn", config=CONFIG, codec=CODEC,
                  weights=_weights(), metadata=META)
    kwargs.update(overrides)
    return write_bundle(path, **kwargs)


@pytest.fixture
def bundle_path(tmp_path):
    return _write(tmp_path / "model.mzb")


# Independent layout helpers --------------------------------------------------------------

def _split(raw):
    magic, version, header_length, data_length, crc = struct.unpack_from("<8sIQQI", raw)
    data_start = -(-(32 + header_length) // 64) * 64
    return dict(version=version, header=raw[32:32 + header_length],
                data=raw[data_start:data_start + data_length], checksum=raw[-32:])


def _assemble(header, data, version=1, checksum=None):
    """A file with the given parts; the checksum is recomputed unless one is given."""
    prelude = struct.pack("<8sIQQ", MAGIC, version, len(header), len(data))
    prelude += struct.pack("<I", zlib.crc32(prelude))
    body = prelude + header
    body += bytes(-(-len(body) // 64) * 64 - len(body)) + data
    return body + (checksum if checksum is not None else hashlib.sha256(body).digest())


def _edit_header(path, edit, version=1, fix_checksum=True):
    parts = _split(path.read_bytes())
    header = json.loads(parts["header"])
    edit(header)
    raw = json.dumps(header).encode()
    path.write_bytes(_assemble(raw, parts["data"], version,
                               None if fix_checksum else parts["checksum"]))


def _refused(path, reason, **kwargs):
    with pytest.raises(BundleError) as info:
        read_bundle(path, **kwargs)
    assert info.value.reason == reason, str(info.value)
    assert info.value.path == str(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)
    return str(info.value)


# Round trips -----------------------------------------------------------------------------

def test_round_trip_keeps_every_field_and_array(bundle_path):
    contents = read_bundle(bundle_path)
    assert contents.family == "melody_rnn"
    assert contents.config_name == "attention_rnn"
    assert contents.config == CONFIG
    assert contents.codec == CODEC
    assert contents.format_version == bundle.FORMAT_VERSION == 1
    expected = _weights()
    assert [name for name, _ in contents.weights] == [name for name, _ in expected]
    for (name, got), (_, want) in zip(contents.weights, expected):
        assert got.dtype == want.dtype, name
        assert got.shape == want.shape, name
        np.testing.assert_array_equal(got, want, err_msg=name)
    for key, value in META.items():
        assert contents.metadata[key] == value
    versions = contents.metadata["versions"]
    assert versions["musiczoo"] == bundle.__version__ and versions["numpy"] == np.__version__
    assert "created" in contents.metadata
    raw = bundle_path.read_bytes()
    assert contents.metadata["sha256"] == hashlib.sha256(raw[:-32]).hexdigest()


def test_layout_is_as_documented(bundle_path):
    raw = bundle_path.read_bytes()
    assert raw[:8] == MAGIC and bundle.EXTENSION == ".mzb"
    parts = _split(raw)
    header = json.loads(parts["header"])
    assert header["musiczoo_version"] == bundle.__version__
    assert header["family"] == "melody_rnn"
    kernel = header["weights"][0]
    assert kernel["offset"] % 64 == 0 and kernel["dtype"] == "float32"
    np.testing.assert_array_equal(
        np.frombuffer(parts["data"], "<f4", count=4 * 32, offset=kernel["offset"]),
        _weights()[0][1].reshape(-1))
    assert _assemble(parts["header"], parts["data"]) == raw


def test_json_sections_are_normalised_or_refused(tmp_path):
    path = _write(tmp_path / "a.mzb", config={"sizes": (1, 2), "rate": np.float32(0.25),
                                              "n": np.int64(3)})
    assert read_bundle(path).config == {"sizes": [1, 2], "rate": 0.25, "n": 3}
    with pytest.raises(TypeError, match=r"config\['layer'\].*function"):
        _write(tmp_path / "b.mzb", config={"layer": print})
    with pytest.raises(TypeError, match="non-string key"):
        _write(tmp_path / "c.mzb", codec={1: "x"})
    with pytest.raises(ValueError, match="duplicate weight name"):
        _write(tmp_path / "d.mzb", weights=[("w", np.zeros(1)), ("w", np.zeros(1))])
    with pytest.raises(ValueError, match="family"):
        _write(tmp_path / "e.mzb", family="")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mzb"]


def test_rewriting_a_loaded_bundle(tmp_path, bundle_path):
    first = read_bundle(bundle_path)
    again = write_bundle(tmp_path / "sub" / "copy.mzb", family=first.family,
                         config_name=first.config_name, config=first.config,
                         codec=first.codec, weights=first.weights, metadata=first.metadata)
    second = read_bundle(again)
    assert second.metadata["created"] == first.metadata["created"]  # kept when given
    assert second.metadata["sha256"] == hashlib.sha256(again.read_bytes()[:-32]).hexdigest()
    for (_, a), (_, b) in zip(first.weights, second.weights):
        np.testing.assert_array_equal(a, b)
    umask = os.umask(0)
    os.umask(umask)
    assert again.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_read_header_and_info(bundle_path):
    header = read_header(bundle_path)
    assert (header.family, header.config_name, header.config) == (
        "melody_rnn", "attention_rnn", CONFIG)
    assert [(w.name, w.shape) for w in header.weight_index] == [
        (name, array.shape) for name, array in _weights()]
    assert header.file_size == bundle_path.stat().st_size
    assert header.metadata["sha256"] == read_bundle(bundle_path).metadata["sha256"]
    info = bundle.bundle_info(bundle_path)
    for text in ("melody_rnn", "attention_rnn", "steps", "20", "loss=1.25", "accuracy=0.5",
                 "KiB", "musiczoo " + bundle.__version__, "tiny test model"):
        assert text in info, text


def test_bundle_module_does_not_import_tensorflow():
    code = "import sys, musiczoo.bundle; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert out.stdout.split() == ["False", "False"]


def test_real_keras_model_round_trip(tmp_path):
    keras = pytest.importorskip("keras")

    def build():  # explicit names: auto-names (lstm_1, ...) differ between two builds
        return keras.Sequential([keras.Input((None, 4)),
                                 keras.layers.LSTM(8, return_sequences=True, name="lstm"),
                                 keras.layers.Dense(5, name="logits")], name="tiny")

    model = build()
    x = np.random.default_rng(1).standard_normal((2, 6, 4)).astype(np.float32)
    want = model.predict(x, verbose=0)
    path = _write(tmp_path / "keras.mzb",
                  weights=[(v.path, v.numpy()) for v in model.weights])
    contents = read_bundle(path, known_families=["melody_rnn"])
    assert "keras" in contents.metadata["versions"]  # imported here, so recorded

    fresh = build()
    assert not np.allclose(fresh.predict(x, verbose=0), want)
    loaded = dict(contents.weights)
    assert [v.path for v in fresh.weights] == list(loaded)
    for variable in fresh.weights:
        variable.assign(loaded[variable.path])
    np.testing.assert_array_equal(fresh.predict(x, verbose=0), want)


# Refusals --------------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["magic", "prelude", "header", "weights", "checksum",
                                   "last_byte"])
def test_truncated(bundle_path, where):
    raw = bundle_path.read_bytes()
    parts = _split(raw)
    data_start = raw.index(parts["data"])
    cut = {"magic": 5, "prelude": 20, "header": 32 + len(parts["header"]) // 2,
           "weights": data_start + len(parts["data"]) // 2, "checksum": len(raw) - 32,
           "last_byte": len(raw) - 1}[where]
    bundle_path.write_bytes(raw[:cut])
    _refused(bundle_path, "truncated")
    with pytest.raises(BundleError, match="truncated"):
        read_header(bundle_path)


@pytest.mark.parametrize("where", ["weights", "header", "prelude_length", "checksum"])
def test_flipped_byte_is_corrupted(bundle_path, where):
    raw = bytearray(bundle_path.read_bytes())
    parts = _split(bytes(raw))
    index = {"weights": bytes(raw).index(parts["data"]) + 17,
             "header": 32 + len(parts["header"]) // 2,
             "prelude_length": 13, "checksum": len(raw) - 5}[where]
    raw[index] ^= 0x04
    bundle_path.write_bytes(bytes(raw))
    message = _refused(bundle_path, "corrupted")
    assert "checksum" in message


def test_tampered_header_with_fixed_length_is_corrupted(bundle_path):
    def edit(header):
        header["config"]["attn_length"] = 4000  # longer text, so the length must be fixed up

    _edit_header(bundle_path, edit, fix_checksum=False)
    assert b"4000" in bundle_path.read_bytes()
    _refused(bundle_path, "corrupted")


def test_appended_bytes_are_corrupted(bundle_path):
    bundle_path.write_bytes(bundle_path.read_bytes() + b"extra")
    assert "unexpected bytes" in _refused(bundle_path, "corrupted")


def test_newline_converted_transfer_is_corrupted(bundle_path):
    bundle_path.write_bytes(bundle_path.read_bytes().replace(b"\r\n", b"\n"))
    assert "binary mode" in _refused(bundle_path, "corrupted")


@pytest.mark.parametrize("writer", [None, "9.1.0"])
def test_future_version(bundle_path, writer):
    def edit(header):
        if writer:
            header["musiczoo_version"] = writer
        header["new_section"] = {"something": "else"}

    _edit_header(bundle_path, edit, version=2)
    message = _refused(bundle_path, "future_version")
    assert f"musiczoo {writer or bundle.__version__}" in message
    assert "format version 2" in message and "upgrade" in message.lower()
    with pytest.raises(BundleError, match="future_version"):
        read_header(bundle_path)


def test_unknown_family(bundle_path):
    message = _refused(bundle_path, "unknown_family", known_families=["drums_rnn", "music_vae"])
    assert "drums_rnn" in message and "music_vae" in message and "melody_rnn" in message
    assert read_bundle(bundle_path, known_families={"melody_rnn": object}).family == "melody_rnn"


@pytest.mark.parametrize("content, hint", [
    (b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk" + bytes(40), "MIDI"),
    (b"this is a text file, not a model\n" * 3, "wrong magic"),
    (b"", "empty"),
    (b"ab", "wrong magic"),
])
def test_not_a_bundle(tmp_path, content, hint):
    path = tmp_path / "renamed.mzb"
    path.write_bytes(content)
    assert hint in _refused(path, "not_a_bundle")
    with pytest.raises(BundleError, match="not_a_bundle"):
        read_header(path)


def _set(key, value):
    return lambda header: header["weights"][0].__setitem__(key, value)


@pytest.mark.parametrize("edit, words", [
    (_set("dtype", "object"), "unknown dtype"),
    (_set("shape", [4, 33]), "needs"),
    (_set("nbytes", 4), "needs"),
    (_set("offset", 10**9), "outside the data"),
    (_set("shape", [4, -32]), "invalid shape"),
    (_set("name", None), "name"),
    (lambda header: header.pop("config"), "'config'"),
    (lambda header: header.__setitem__("weights", {"w": 1}), "'weights'"),
])
def test_bad_header_with_valid_checksum(bundle_path, edit, words):
    # A consistent checksum over a bad header: what a buggy writer (or a careful forger) makes.
    _edit_header(bundle_path, edit)
    assert words in _refused(bundle_path, "bad_header")


def test_unreadable_json_header(bundle_path):
    parts = _split(bundle_path.read_bytes())
    bundle_path.write_bytes(_assemble(b"{not json" + parts["header"][9:], parts["data"]))
    assert "JSON" in _refused(bundle_path, "bad_header")


# Atomic writes ---------------------------------------------------------------------------

def test_unsupported_dtype_fails_before_creating_anything(tmp_path):
    target = tmp_path / "model.mzb"
    with pytest.raises(TypeError, match=r"model\.mzb.*'bad'.*object"):
        _write(target, weights=[("ok", np.zeros(3)), ("bad", np.array([{}, None], object))])
    assert list(tmp_path.iterdir()) == []


def test_failure_midway_leaves_no_file(tmp_path, monkeypatch):
    def fail(fd):
        raise OSError("disk full")

    target = tmp_path / "model.mzb"
    monkeypatch.setattr(bundle.os, "fsync", fail)
    with pytest.raises(OutputError, match="disk full"):
        _write(target)
    assert list(tmp_path.iterdir()) == []  # neither the target nor the temporary file


def test_failed_overwrite_keeps_the_old_bundle(tmp_path, monkeypatch):
    target = _write(tmp_path / "model.mzb")
    before = target.read_bytes()

    def fail(src, dst):
        raise KeyboardInterrupt  # an interrupt just before the rename

    monkeypatch.setattr(bundle.os, "replace", fail)
    with pytest.raises(KeyboardInterrupt):
        _write(target, config_name="other")
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.mzb"]


# Header schema versions --------------------------------------------------------------------

def test_header_schema_versions_are_migrated_or_refused(bundle_path):
    assert read_bundle(bundle_path).header_version == 2
    raw = bundle_path.read_bytes()

    def as_version_1(header):  # what every bundle written before issue 11 looks like
        header.pop("header_version")
        for entry in header["weights"]:
            entry["name"] = f"{header['family']}/{entry['name']}"
    _edit_header(bundle_path, as_version_1)
    migrated = read_bundle(bundle_path)
    assert migrated.header_version == 2
    bundle_path.write_bytes(raw)
    assert [n for n, _ in migrated.weights] == [n for n, _ in read_bundle(bundle_path).weights]
    _edit_header(bundle_path, _set_top("header_version", 3))
    assert "header schema version 3" in _refused(bundle_path, "future_version")
    _edit_header(bundle_path, _set_top("header_version", "2"))
    assert "header_version must be an integer" in _refused(bundle_path, "bad_header")


def test_shipped_bundles_of_both_header_versions_load():
    import pathlib
    shipped = sorted((pathlib.Path(__file__).resolve().parent.parent / "bundles").glob("*.mzb"))
    versions = {}
    for path in shipped:
        header = json.loads(_split(path.read_bytes())["header"])
        version = header.get("header_version", 1)
        versions.setdefault(version, []).append(path.stem)
        family = header["family"]
        names = [n for n, _ in read_bundle(path).weights]
        if version == 1:  # written before the schema had a version: migrated on read
            assert all(w["name"].startswith(f"{family}/") for w in header["weights"])
            assert names == [w["name"][len(family) + 1:] for w in header["weights"]]
        else:
            assert names == [w["name"] for w in header["weights"]]
    # Five bundles are still today's version-1 files (the migration is tested on them);
    # the two MusicVAEs were rewritten with their attribute vectors (issue 12) and
    # basic_rnn_gru (issue 14) and multitrack_transformer (issue 16) were trained after the
    # schema's version 2.
    assert len(versions[1]) == 5 and sorted(versions[2]) == [
        "basic_rnn_gru", "cat-drums_2bar_small", "cat-mel_2bar_small",
        "multitrack_transformer"]


def _set_top(key, value):
    return lambda header: header.__setitem__(key, value)
