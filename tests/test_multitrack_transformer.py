"""The multi-instrument Music Transformer: the multi-track codec round-trips real MIDI, a
tiny config trains on real multi-track files, samples play only the instruments asked
for, cached sampling equals uncached, the prompt compiler reaches it, bad requests are
refused in one line."""
import glob
import os
import shutil

import numpy as np
import pytest

import musiczoo
from musiczoo import commands, registry
from musiczoo.compose.form import head
from musiczoo.compose.prompt import compile_prompt
from musiczoo.controls import ControlError, Controls, compliance
from musiczoo.models.music_transformer.model import MusicTransformer
from musiczoo.models.music_transformer.multitrack import MultitrackTransformer
from musiczoo.pipelines.codecs.multitrack import MultitrackCodec
from musiczoo.pipelines.extract import multitrack as mt
from musiczoo.pipelines.extract import notearrays
from musiczoo.pipelines.readers import multitrack as corpus
from musiczoo.pipelines.readers.files import read_file_arrays
from musiczoo.pipelines.readers.midi import midi_bytes_to_sequence
from musiczoo.pipelines.writers import midi_bytes

HAS_MMA = shutil.which("mma") is not None or os.environ.get("MUSICZOO_REQUIRE_MMA") == "1"
BLUPI = sorted(glob.glob("/usr/share/planetblupi/music/*.mid"))
TINY = ("num_layers=2,d_model=64,num_heads=4,ff_size=128,max_length=256,batch_size=8,"
        "window_bars=2,hop_bars=1,max_relative_position=256,warmup_steps=20,"
        "learning_rate=0.003,dropout_rate=0.0")


@pytest.fixture(scope="module")
def band_corpus(tmp_path_factory):
    """Real multi-track files: MMA band arrangements in three styles (where MMA is
    installed; CI requires it) and a string quartet and a chorale from music21's corpus."""
    folder = tmp_path_factory.mktemp("multitrack")
    sources = ("mma", "chorale", "string_quartet") if HAS_MMA else ("chorale", "string_quartet")
    corpus.build_multitrack_corpus(folder, limit=1, progress=False, workers=2, sources=sources,
                                   mma_styles=("rock", "waltz", "bossa_nova"))
    return folder


def real_files(folder):
    return sorted(glob.glob(str(folder / "*" / "*.mid"))) + BLUPI[:2]


def quantized_notes(path):
    (arrays,) = read_file_arrays(path)
    part = notearrays.split_on_time_changes(arrays)[0]
    return mt.quantize_multitrack(notearrays.quantize(part, 12), 8)


def test_codec_round_trips_real_multitrack_midi_exactly_up_to_quantisation(band_corpus):
    codec = MultitrackCodec(styles=("any", "rock"))
    files = real_files(band_corpus)
    assert len(files) >= 2
    widest = 0
    for path in files:
        (arrays,) = read_file_arrays(path)
        assert len(set(arrays.instrument.tolist())) >= 2, path   # really multi-track
        notes = quantized_notes(path)
        widest = max(widest, len(notes.instruments))
        events = mt.notes_to_events(notes, 48, style=1)
        ids = codec.events_to_ids(events)
        assert (codec.ids_to_events(ids) == events).all()
        back = mt.events_to_notes(codec.ids_to_events(ids), 12, 8, notes.qpm,
                                  notes.time_signature)
        np.testing.assert_array_equal(back.rows(), notes.rows(), err_msg=path)
        # ... and through a MIDI file: same notes, one track per instrument, drums on 10.
        sequence = mt.notes_to_note_sequence(back, 8)
        again = notearrays.from_note_sequence(midi_bytes_to_sequence(midi_bytes(sequence),
                                                                     "again.mid"))
        replayed = mt.quantize_multitrack(notearrays.quantize(again, 12), 8)
        np.testing.assert_array_equal(replayed.rows(), notes.rows(), err_msg=path)
    assert widest >= 3  # a band: several GM families and drums in one stream


def test_prefix_and_vocabulary():
    codec = MultitrackCodec(styles=("any", "rock", "swing"))
    notes = mt.MultitrackNotes(
        instrument=np.array([0, 4, 16, 0]), pitch=np.array([60, 40, 36, 64]),
        velocity_bin=np.array([5, 5, 7, 5]), start_step=np.array([0, 0, 0, 12]),
        end_step=np.array([12, 24, 3, 24]), steps_per_quarter=12)
    events = mt.notes_to_events(notes, 48, style=2)
    assert events[:4].tolist() == [[mt.STYLE, 2], [mt.INSTRUMENT, 0], [mt.INSTRUMENT, 4],
                                   [mt.INSTRUMENT, 16]]
    body = events[4:].tolist()
    # Velocity per instrument: one VELOCITY for each, none for the piano's second note.
    assert sum(1 for kind, _ in body if kind == mt.VELOCITY) == 3
    assert [mt.NOTE_OFF, 0 * 128 + 60] in body and [mt.NOTE_OFF, 16 * 128 + 36] not in body
    style, instruments, rest = mt.split_prefix(events)
    assert (style, instruments) == (2, [0, 4, 16]) and len(rest) == len(body)
    assert codec.num_classes == 2 * 16 * 88 + 61 + 48 + 8 + 3 + 17
    with pytest.raises(ValueError, match="outside this codec"):
        codec.events_to_ids([[mt.NOTE_ON, 4 * 128 + 10]])   # below the bass's range


@pytest.fixture(scope="module")
def tiny_model(band_corpus, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    data, run = folder / "data", folder / "run"
    result = commands.create_dataset("multitrack_transformer", str(band_corpus), data,
                                     hparams=TINY, eval_ratio=0.2, progress=False)
    assert result.counts["training"] >= 8
    first = commands.train(data, run, config="multitrack_transformer", hparams=TINY,
                           num_training_steps=1, eval_every=1, progress=False, seed=1)
    later = commands.train(data, run, config="multitrack_transformer", hparams=TINY,
                           num_training_steps=80, eval_every=80, progress=False, seed=1)
    model = musiczoo.load_bundle(run / "multitrack_transformer.mzb")
    return model, (first, later), data


def test_tiny_config_trains_on_real_multitrack_files(tiny_model):
    model, (first, later), _ = tiny_model
    assert isinstance(model, MultitrackTransformer) and later["step"] == 80
    assert later["loss"] < first["loss"] - 1.0
    if "eval_loss" in first:
        assert later["eval_loss"] < first["eval_loss"]
    profile = model.profile
    assert profile["string_quartet"]["instruments"] == "5"
    assert profile["chorale"]["programs"] == {"6": 52}
    if HAS_MMA:
        assert profile["waltz"]["time_signature"] == "3/4"
        assert "16" in profile["rock"]["instruments"].split(",")


@pytest.mark.parametrize("style, instruments", [
    ("rock", ("piano", "bass", "drums")), ("string_quartet", ("strings",)),
    ("chorale", ("ensemble", "drums"))])
def test_samples_play_only_the_requested_instruments(tiny_model, style, instruments):
    model, _, _ = tiny_model
    controls = Controls.parse(style=style, instruments=",".join(instruments), bars=2, qpm=100)
    sequences = model.generate(3, controls=controls, seed=3, temperature=1.2)
    for sequence in sequences:
        played = {16 if n.is_drum else n.program // 8 for n in sequence.notes}
        assert played <= {mt.INSTRUMENT_NAMES.index(i) for i in instruments}
        assert sequence.notes
        report = compliance.measure(sequence, model.last_controls)
        assert report["checks"]["instruments"] and report["checks"]["bars"], report
        meter = sequence.time_signatures[0]
        bar = meter.numerator * 4 / meter.denominator * 60 / 100
        assert abs(sequence.total_time - 2 * bar) < 1e-6
        assert sequence.tempos[0].qpm == 100 and list(sequence.sequence_metadata.genre) == [style]


def test_style_meter_and_primer(tiny_model, band_corpus, tmp_path):
    model, _, _ = tiny_model
    if HAS_MMA:
        (waltz,) = model.generate(1, controls=Controls.parse(style="waltz", bars=2), seed=1)
        assert (waltz.time_signatures[0].numerator, waltz.time_signatures[0].denominator) == (3, 4)
    quartet = sorted(glob.glob(str(band_corpus / "string_quartet" / "*.mid")))[0]
    primer = head(midi_bytes_to_sequence(open(quartet, "rb").read(), quartet), 2)
    (out,) = model.generate(1, primer=primer, controls=Controls.parse(
        style="string_quartet", bars=4), seed=2)
    assert model.last_primer_seconds > 0
    kept = {(n.pitch, round(n.start_time, 2)) for n in out.notes
            if n.start_time < model.last_primer_seconds - 1e-6}
    given = {(n.pitch, round(n.start_time, 2)) for n in primer.notes}
    assert kept == given  # the primer's notes kept (on the grid; doubled parts merge)
    assert {n.program // 8 for n in out.notes} == {5}
    assert primer.notes
    with pytest.raises(ControlError, match="leaves out"):
        model.generate(1, primer=primer, controls=Controls.parse(
            style="string_quartet", instruments="piano", bars=4), seed=2)
    with pytest.raises(Exception, match="context"):
        model.generate(1, primer=quartet, controls=Controls.parse(bars=400))


def test_cached_sampling_equals_uncached(tiny_model):
    model, _, _ = tiny_model
    from musiczoo.controls import masks
    controls = Controls.parse(style="chorale", instruments="ensemble,bass")
    prefix = model.codec.base.prefix_ids("chorale", [6, 4])
    tokens = np.concatenate([[model.codec.start_id], prefix])[None].astype(np.int32)
    plan = masks.plan(model.control_space(), controls, tokens.shape[1] + 40, tokens.shape[1])
    cached, _ = model.generate_tokens(np.tile(tokens, (2, 1)), 40, seed=5, plan=plan)
    uncached, _ = model.generate_tokens(np.tile(tokens, (2, 1)), 40, seed=5, plan=plan,
                                        cached=False)
    np.testing.assert_array_equal(cached, uncached)
    instruments = model.codec.base.instrument_of_ids(cached[:, tokens.shape[1]:])
    assert set(instruments[instruments >= 0].tolist()) <= {4, 6}


def test_bundle_round_trip_and_bad_requests(tiny_model, tmp_path):
    model, _, _ = tiny_model
    path = tmp_path / "band.mzb"
    model.save_bundle(path)
    loaded = musiczoo.load_bundle(path)
    assert isinstance(loaded, MultitrackTransformer) and loaded.profile == model.profile
    a = model.generate(1, controls=Controls.parse(style="rock", bars=1), seed=9)[0]
    b = loaded.generate(1, controls=Controls.parse(style="rock", bars=1), seed=9)[0]
    assert [(n.pitch, n.start_time, n.program) for n in a.notes] == \
        [(n.pitch, n.start_time, n.program) for n in b.notes]
    with pytest.raises(ControlError, match="knows the styles"):
        model.generate(1, controls=Controls.parse(style="disco"))
    with pytest.raises(ControlError, match="--instruments"):
        model.generate(1, controls=Controls.parse(instrument="flute"))
    with pytest.raises(ControlError, match="unknown instrument"):
        Controls.parse(instruments="piano,kazoo9")
    with pytest.raises(ControlError, match="end_on_tonic"):
        model.generate(1, controls=Controls.parse(key="D minor"))


def test_a_dataset_with_longer_windows_is_refused(tiny_model, tmp_path):
    model, _, data = tiny_model
    shorter = registry.apply_hparams(registry.find_config("multitrack_transformer")[1],
                                     TINY.replace("max_length=256", "max_length=128"))
    with pytest.raises(ValueError, match="longer than"):
        MusicTransformer.from_config(shorter).check_dataset(data)


def test_prompts_reach_the_multi_instrument_bundle():
    plan = compile_prompt("bossa nova for piano, bass and drums, 110 bpm, 8 bars")
    assert plan.bundle == "multitrack_transformer"
    assert plan.controls == {"qpm": 110.0, "bars": 8, "style": "bossa_nova",
                             "instruments": "piano,bass,drums"}
    plan = compile_prompt("jazz waltz trio in D minor")
    assert plan.controls["style"] == "jazz_waltz" and plan.controls["time_signature"] == "3/4"
    assert plan.controls["end_on_tonic"] is False
    assert compile_prompt("rock for guitar, bass and drums").controls["instruments"] == \
        "guitar,bass,drums"
    # Unchanged: a rock beat is the drum model's, a folk melody the melody model's.
    assert compile_prompt("energetic rock beat, 2 bars").bundle == "drum_kit_rnn"
    assert compile_prompt("calm folk melody in D minor").bundle == "lookback_rnn"


def test_past_the_context_the_window_keeps_the_prefix(tiny_model):
    model, _, _ = tiny_model
    controls = Controls.parse(style="chorale", instruments="ensemble", bars=16, qpm=90)
    (sequence,) = model.generate(1, controls=controls, seed=4)
    meter = sequence.time_signatures[0]
    bar = meter.numerator * 4 / meter.denominator * 60 / 90
    assert abs(sequence.total_time - 16 * bar) < 1e-6
    assert {n.program // 8 for n in sequence.notes} == {6}
    assert max(n.start_time for n in sequence.notes) > 8 * bar  # music all the way through
    (events,) = model.generate(1, num_steps=600, controls=Controls.parse(style="chorale"),
                               seed=4)
    assert events.notes
    with pytest.raises(ValueError, match="beam search covers one"):
        model.generate(1, num_steps=600, controls=Controls.parse(style="chorale"), seed=4,
                       beam_size=2)


SHIPPED = os.path.join(os.path.dirname(__file__), "..", "bundles", "multitrack_transformer.mzb")
needs_shipped = pytest.mark.skipif(not os.path.exists(SHIPPED),
                                   reason="bundles/multitrack_transformer.mzb not built")


@needs_shipped
def test_the_prompt_writes_a_band_in_its_style(tmp_path):
    from musiczoo.compose import compose as composer
    result = composer.compose("bossa nova for piano, bass and drums, 110 bpm, 2 bars, "
                              "2 variations", tmp_path / "bossa", seed=1)
    assert result.plan.bundle == "multitrack_transformer"
    assert result.controls.style == "bossa_nova" and len(result.variations) == 2
    for path in sorted((tmp_path / "bossa").glob("variation_*.mid")):
        sequence = midi_bytes_to_sequence(path.read_bytes(), str(path))
        played = {16 if n.is_drum else n.program // 8 for n in sequence.notes}
        assert sequence.notes and played <= {0, 4, 16}
        assert abs(sequence.tempos[0].qpm - 110) < 0.01  # MIDI tempo: whole microseconds


@needs_shipped
def test_the_api_takes_style_and_instruments():
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from musiczoo.serve.app import create_app
    from musiczoo.serve.settings import Settings
    with TestClient(create_app(Settings(max_outputs=2, max_bars=8, audio=False))) as client:
        listed = {b["name"]: b for b in client.get("/api/bundles").json()}
        assert {"style", "instruments"} <= set(listed["multitrack_transformer"]["controls"])
        answer = client.post("/api/generate", json={
            "bundle": "multitrack_transformer", "style": "swing",
            "instruments": "piano,bass,drums", "bars": 2, "num_outputs": 2, "seed": 1})
        assert answer.status_code == 200, answer.text
        for item in answer.json()["items"]:
            assert item["compliance"]["instruments"]
        bad = client.post("/api/generate", json={"bundle": "multitrack_transformer",
                                                 "style": "disco", "bars": 2})
        assert bad.status_code == 400 and "knows the styles" in bad.text
