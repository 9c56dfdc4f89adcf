"""The studio's HTTP API through the real app (FastAPI's TestClient): real models, real
files back, and every way a request can be wrong or too big answered with a 4xx."""
import threading
import time

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from musiczoo.controls import theory  # noqa: E402
from musiczoo.pipelines.extract import melodies  # noqa: E402
from musiczoo.pipelines.readers.midi import midi_bytes_to_sequence  # noqa: E402
from musiczoo.pipelines.writers import midi_bytes  # noqa: E402
from musiczoo.serve.app import create_app  # noqa: E402
from musiczoo.serve.settings import Settings  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings(max_outputs=4, max_bars=16))) as c:
        yield c


def tune_bytes(pitches=(60, 62, 64, 65, 67, 65, 64, 62)):
    events = [e for p in pitches for e in (p, -2, -2, -2)]
    return midi_bytes(melodies.melody_to_note_sequence(events, 4))


def test_bundles_say_what_they_take(client):
    found = {b["name"]: b for b in client.get("/api/bundles").json()}
    assert {"basic_rnn", "drum_kit_rnn", "cat-mel_2bar_small", "chorale_transformer"} <= set(found)
    assert "key" in found["basic_rnn"]["controls"] and "drums" not in found["basic_rnn"]["controls"]
    assert "drums" in found["drum_kit_rnn"]["controls"]
    assert "interpolate" in found["cat-mel_2bar_small"]["capabilities"]
    assert "harmonize" in found["chorale_transformer"]["controls"]
    assert "/api/generate" in client.get("/openapi.json").json()["paths"]


def test_generate_returns_files_that_obey(client):
    answer = client.post("/api/generate", json={"bundle": "basic_rnn", "num_outputs": 2,
                                                "key": "E major", "bars": 4, "seed": 3})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert len(result["items"]) == 2 and result["controls"]["key"] == "E major"
    scale = theory.scale_pitch_classes(4, "major")
    for item in result["items"]:
        assert all(item["compliance"].values()) and item["compliance"]["ends_on_tonic"]
        sequence = midi_bytes_to_sequence(client.get(item["midi"]).content)
        assert sequence.notes and {n.pitch % 12 for n in sequence.notes} <= scale
        roll = client.get(item["roll"])
        assert roll.headers["content-type"].startswith("image/svg") and b"<svg" in roll.content
        wav = client.get(item["wav"])
        assert wav.content[:4] == b"RIFF" and len(wav.content) > 44 * 1000
    again = client.post("/api/generate", json={"bundle": "basic_rnn", "num_outputs": 2,
                                               "key": "E major", "bars": 4, "seed": 3}).json()
    assert [client.get(i["midi"]).content for i in again["items"]] == [
        client.get(i["midi"]).content for i in result["items"]]  # the seed reproduces


def test_compose_vary_and_interpolate(client):
    composed = client.post("/api/compose", json={
        "prompt": "calm melody in G major, 4 bars, 2 variations", "seed": 1}).json()
    assert composed["summary"].startswith("understood: G major, 4 bars, 2 variations")
    scores = [item["scores"]["score"] for item in composed["items"]]
    assert scores == sorted(scores, reverse=True) and all(i["seed"] for i in composed["items"])
    varied = client.post("/api/vary", json={"result_id": composed["id"], "index": 1,
                                            "variations": 2, "seed": 2})
    assert varied.status_code == 200, varied.text and len(varied.json()["items"]) == 2
    path = client.post("/api/interpolate", data={
        "first_ref": f"{composed['id']}:0", "second_ref": f"{composed['id']}:1",
        "num_outputs": "3", "seed": "1"})
    assert path.status_code == 200, path.text
    assert len(path.json()["items"]) == 3
    uploads = client.post("/api/interpolate", data={"num_outputs": "2"}, files={
        "first": ("a.mid", tune_bytes(), "audio/midi"),
        "second": ("b.mid", tune_bytes((72, 71, 69, 67, 65, 64, 62, 60)), "audio/midi")})
    assert uploads.status_code == 200, uploads.text


def test_continue_keeps_the_upload_and_harmonize_keeps_the_melody(client):
    upload = tune_bytes()
    kept = [(n.pitch, round(n.start_time, 3)) for n in midi_bytes_to_sequence(upload).notes]
    answer = client.post("/api/continue", data={"bundle": "basic_rnn", "bars": "4", "seed": "1"},
                         files={"midi": ("tune.mid", upload, "audio/midi")})
    assert answer.status_code == 200, answer.text
    for item in answer.json()["items"]:
        notes = midi_bytes_to_sequence(client.get(item["midi"]).content).notes
        assert [(n.pitch, round(n.start_time, 3)) for n in notes][:len(kept)] == kept
    melody = tune_bytes((60, 62, 64, 65, 67, 65, 64, 60))
    given = [(n.pitch, round(n.start_time, 3)) for n in midi_bytes_to_sequence(melody).notes]
    harmonized = client.post("/api/continue", data={
        "bundle": "chorale_transformer", "harmonize": "true", "num_outputs": "1",
        "key": "C major", "seed": "1"}, files={"midi": ("tune.mid", melody, "audio/midi")})
    assert harmonized.status_code == 200, harmonized.text
    sequence = midi_bytes_to_sequence(client.get(harmonized.json()["items"][0]["midi"]).content)
    soprano = sorted((n.pitch, round(n.start_time, 3)) for n in sequence.notes
                     if n.instrument == 0)
    assert sorted(soprano, key=lambda x: x[1]) == given
    assert len({n.instrument for n in sequence.notes}) == 4


@pytest.mark.parametrize("path, body, status, words", [
    ("/api/generate", {"bundle": "basic_rnn", "key": "C major", "pitch_set": "F#"}, 400,
     "no pitch class in common"),
    ("/api/generate", {"bundle": "basic_rnn", "num_outputs": 9}, 422, "at most 4 outputs"),
    ("/api/generate", {"bundle": "basic_rnn", "bars": 64}, 422, "at most 16 bars"),
    ("/api/generate", {"bundle": "no_such", "num_outputs": 1}, 404, "unknown bundle"),
    ("/api/generate", {"bundle": "drum_kit_rnn", "key": "C major"}, 400, "plays drums"),
    ("/api/generate", {"bundle": "basic_rnn", "temperature": -1}, 422, "greater than 0"),
    ("/api/compose", {"prompt": "a melody in C major and D minor"}, 400, "two keys"),
    ("/api/vary", {"result_id": "0" * 32, "index": 0}, 404, "no result item"),
])
def test_bad_requests_are_4xx_with_the_reason(client, path, body, status, words):
    answer = client.post(path, json=body)
    assert answer.status_code == status, answer.text
    assert words in answer.text


def test_uploads_are_bounded_and_checked(client):
    big = client.post("/api/continue", data={"bundle": "basic_rnn"},
                      files={"midi": ("big.mid", b"MThd" + bytes(3 * 2 ** 20), "audio/midi")})
    assert big.status_code == 413 and "limited to" in big.text
    bomb = bytearray(tune_bytes())
    bomb[22:26] = b"\x8f\xff\xff\x7f"  # the first delta-time: 0x0FFFFFFF ticks
    answer = client.post("/api/continue", data={"bundle": "basic_rnn"},
                         files={"midi": ("bomb.mid", bytes(bomb), "audio/midi")})
    assert answer.status_code == 400 and "too long" in answer.text
    text = client.post("/api/continue", data={"bundle": "basic_rnn"},
                       files={"midi": ("list.mid", b"shopping list", "audio/midi")})
    assert text.status_code == 400 and "not a MIDI file" in text.text


def test_no_request_reaches_a_path(client):
    result = client.post("/api/generate", json={"bundle": "basic_rnn", "num_outputs": 1,
                                                "bars": 2}).json()
    for name in ("result.json", "..%2F..%2Fetc%2Fpasswd", "../1.mid", "1.mid/../../x"):
        assert client.get(f"/api/results/{result['id']}/{name}").status_code == 404
    assert client.get("/api/results/../../etc/passwd").status_code == 404
    assert client.get("/api/results/not-an-id").status_code == 404


def test_token_and_expiry():
    settings = Settings(token="s3cret", result_ttl_seconds=1.0)
    with TestClient(create_app(settings)) as c:
        assert c.get("/api/bundles").status_code == 401
        auth = {"Authorization": "Bearer s3cret"}
        assert c.get("/api/bundles", headers=auth).status_code == 200
        assert c.get("/api/bundles?token=s3cret").status_code == 200
        result = c.post("/api/generate", headers=auth, json={
            "bundle": "basic_rnn", "num_outputs": 1, "bars": 2}).json()
        assert c.get(f"/api/results/{result['id']}", headers=auth).status_code == 200
        time.sleep(1.2)
        assert c.get(f"/api/results/{result['id']}", headers=auth).status_code == 404
        assert c.get("/").status_code == 200  # the page itself loads; it sends the token


def test_the_results_folder_is_bounded(tmp_path):
    from musiczoo.serve.store import ResultStore
    store = ResultStore(tmp_path, max_results=2)
    made = []
    for _ in range(4):
        result_id, _ = store.new()
        store.save(result_id, {"files": []})
        made.append(result_id)
        time.sleep(0.02)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(made[-2:])
    assert store.get(made[0]) is None and store.get(made[-1])["id"] == made[-1]


def test_a_full_server_answers_429():
    app = create_app(Settings(workers=1, queue=0, audio=False))
    answers = {}
    with TestClient(app) as c:
        c.post("/api/generate", json={"bundle": "basic_rnn", "num_outputs": 1, "bars": 2})

        def slow():
            answers["first"] = c.post("/api/generate", json={
                "bundle": "chorale_transformer", "num_outputs": 4, "bars": 8, "seed": 1})
        worker = threading.Thread(target=slow)
        worker.start()
        deadline = time.time() + 60
        while app.state.workshop.load == 0 and time.time() < deadline:
            time.sleep(0.01)  # until the first request holds the only place
        answers["second"] = c.post("/api/generate", json={"bundle": "basic_rnn",
                                                          "num_outputs": 1, "bars": 2})
        worker.join()
    assert answers["second"].status_code == 429 and "busy" in answers["second"].text
    assert answers["first"].status_code == 200


def test_the_page_carries_its_own_assets(client):
    page = client.get("/").text
    assert 'id="prompt"' in page and 'id="compose"' in page
    assert "http://" not in page and "https://" not in page  # no CDN
    for asset in ("/static/app.js", "/static/style.css"):
        answer = client.get(asset)
        assert answer.status_code == 200 and "https://" not in answer.text
