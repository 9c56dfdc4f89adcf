"""Every shipped bundle still gives its recorded golden scores and fixed-seed notes (what
proves that a refactor or an upgrade changed nothing), and the check catches a change."""
import json
import pathlib

import numpy as np
import pytest

import musiczoo
from musiczoo import bundle, bundle_check, golden
from tests.test_cli import run_script

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUNDLES = sorted((ROOT / "bundles").glob("*.mzb"))


@pytest.mark.parametrize("path", BUNDLES, ids=[p.stem for p in BUNDLES])
def test_shipped_bundle_matches_its_golden_record(path):
    record = json.loads(golden.sidecar(path).read_text())
    assert record["bundle_sha256"] == bundle.read_bundle(path).metadata["sha256"]
    assert len(record["inputs"]) == 2 and all(record["notes"])
    model = musiczoo.load_bundle(str(path))
    assert golden.check(model, record) == []


def test_the_check_catches_swapped_weights_and_a_changed_record(tmp_path):
    path = ROOT / "bundles" / "basic_rnn.mzb"
    record = json.loads(golden.sidecar(path).read_text())
    model = musiczoo.load_bundle(str(path))
    weights = model.model.get_weights()
    # The two LSTM layers' recurrent kernels have one shape: loading one into the other
    # is what a positional restore after a reorder would do silently.
    swapped = list(weights)
    swapped[1], swapped[4] = weights[4], weights[1]
    assert swapped[1].shape == swapped[4].shape
    model.model.set_weights(swapped)
    problems = golden.check(model, record)
    assert any(p.startswith("score log_likelihood[0]") for p in problems)
    assert any("generation differs" in p for p in problems)
    model.model.set_weights(weights)
    nudged = dict(record, scores=dict(record["scores"]))
    nudged["scores"]["log_likelihood"] = [v + 0.01 for v in record["scores"]["log_likelihood"]]
    assert any("score log_likelihood" in p for p in golden.check(model, nudged))
    assert golden.check(model, record, sha256="0" * 64)[0].startswith(
        "the golden record was made for another file")


def test_bundles_script_lists_and_checks(tmp_path):
    done = run_script("bundles")
    assert done.returncode == 0, done.stderr
    for path in BUNDLES:
        assert path.stem in done.stdout
    assert "training data:" in done.stdout and "golden record" in done.stdout
    broken = tmp_path / "broken.mzb"
    raw = bytearray((ROOT / "bundles" / "basic_rnn.mzb").read_bytes())
    raw[-100] ^= 0xFF
    broken.write_bytes(bytes(raw))
    done = run_script("bundles", "--check", "basic_rnn", str(broken), str(tmp_path / "gone.mzb"))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("ok ") and "golden scores equal" in lines[0]
    assert lines[1].startswith(f"FAILED  {broken}") and "checksum" in lines[1]
    assert lines[2].startswith("FAILED") and "no such bundle file" in lines[2]


def test_check_reports_a_golden_mismatch(tmp_path):
    source = ROOT / "bundles" / "lookback_rnn.mzb"
    copy = tmp_path / "lookback_rnn.mzb"
    copy.write_bytes(source.read_bytes())
    record = json.loads(golden.sidecar(source).read_text())
    record["notes"][0] = record["notes"][0][1:]
    golden.write(golden.sidecar(copy), record)
    report = bundle_check.check(str(copy))
    assert not report.ok and "fixed-seed generation differs" in report.detail
    np.testing.assert_equal(report.path, str(copy))
