"""tfds:NAME inputs: a prepared dataset loads offline; offline, an unprepared one is one line."""
import os
import pathlib
import socket
import subprocess
import sys

import pytest

from musiczoo.pipelines.readers import tfds as tfds_inputs
from musiczoo.pipelines.readers.inputs import resolve_input

ROOT = pathlib.Path(__file__).resolve().parent.parent


def offline(host, port=443, timeout=None):
    return "offline (test)"


def test_connection_problem_says_why():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        assert tfds_inputs.connection_problem("127.0.0.1", port) is None
    assert tfds_inputs.connection_problem("127.0.0.1", port)  # closed now: refused
    assert tfds_inputs.connection_problem("no-such-host.invalid", 443)


def test_unprepared_dataset_offline_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(tfds_inputs, "connection_problem", offline)
    with pytest.raises(ValueError) as error:
        resolve_input("tfds:groove/2bar-midionly")
    message = str(error.value)
    assert "TFDS needs network access to download groove/2bar-midionly" in message
    assert "storage.googleapis.com:443" in message and str(tmp_path) in message
    assert "tfds build groove/2bar-midionly" in message and "\n" not in message
    assert not list(tmp_path.rglob("*.zip*"))  # no download was started


@pytest.mark.parametrize("name,words", [
    ("grove/2bar-midionly", "did you mean groove"),
    ("groove/3bar", "its configs: full-midionly"),
    ("groove/2bar-midionly:9.9.9", "9.9.9"),
])
def test_unknown_names_are_one_line(name, words, tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    with pytest.raises(ValueError, match=words) as error:
        tfds_inputs.tfds_builder(name)
    assert "\n" not in str(error.value)


def test_a_prepared_dataset_loads_offline(tmp_path, monkeypatch, chorales):
    import tensorflow as tf
    import tensorflow_datasets as tfds

    from musiczoo.pipelines.writers import write_midi

    midis = []
    for index, chorale in enumerate(chorales[:2]):
        path = tmp_path / f"{index}.mid"
        write_midi(chorale, path)
        midis.append(path.read_bytes())

    class TinyMidiForTest(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return self.dataset_info_from_configs(features=tfds.features.FeaturesDict({
                "id": tfds.features.Text(),
                "midi": tfds.features.Tensor(shape=(), dtype=tf.string)}))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples()}

        def _generate_examples(self):
            for index, midi in enumerate(midis):
                yield str(index), {"id": f"piece_{index}", "midi": midi}

    data_dir = tmp_path / "tfds"
    TinyMidiForTest(data_dir=str(data_dir)).download_and_prepare()
    monkeypatch.setenv("TFDS_DATA_DIR", str(data_dir))
    monkeypatch.setattr(tfds_inputs, "connection_problem", offline)
    sequences, _, description = resolve_input("tfds:tiny_midi_for_test")
    read = list(sequences)
    assert "tiny_midi_for_test" in description
    assert sorted(s.filename for s in read) == ["piece_0", "piece_1"]
    assert all(len(s.notes) > 20 for s in read)


def test_cli_offline_tfds_fails_fast_in_one_line(tmp_path):
    if tfds_inputs.connection_problem(tfds_inputs.TFDS_HOST) is None:
        pytest.skip("the network is reachable: TFDS would really download groove")
    env = {k: v for k, v in os.environ.items() if k != "MUSICZOO_DEBUG"}
    env.update(PYTHONPATH=str(ROOT), TFDS_DATA_DIR=str(tmp_path / "tfds"))
    done = subprocess.run(
        [sys.executable, "-m", "musiczoo.scripts.create_dataset", "--config=cat-drums_2bar_small",
         "--input=tfds:groove/2bar-midionly", f"--output_dir={tmp_path / 'out'}"],
        capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "network" in lines[0], done.stderr
