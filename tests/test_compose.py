"""Prompts -> plans (a table of prompts, misspellings and contradictions), and compose:
ranked variations in a folder, reproducible from their seeds, forms, more like this."""
import json

import mido
import pytest

import musiczoo
from musiczoo.compose import compose as composer
from musiczoo.compose.form import concatenate, head
from musiczoo.compose.prompt import PromptError, compile_prompt
from musiczoo.controls import Controls, compliance
from musiczoo.pipelines.readers.files import read_file


@pytest.mark.parametrize("prompt, bundle, controls, variations, form", [
    ("calm folk melody in D minor, 80 bpm, 16 bars, AABA, 3 variations", "lookback_rnn",
     {"key": "D minor", "qpm": 80.0, "bars": 16, "density": "low"}, 3, "AABA"),
    ("write a folk song that only uses A, B, C#, F# and G", "lookback_rnn",
     {"pitch_set": "A,B,C#,F#,G"}, 4, ""),
    ("energetic rock beat with kick, snare and hihat, 8 bars", "drum_kit_rnn",
     {"bars": 8, "drums": "kick,snare,closed_hihat", "qpm": 140.0, "density": "high"}, 4, ""),
    ("a sad hymn in E minor, 12 bars, two variations", "chorale_transformer",
     {"key": "E minor", "bars": 12, "qpm": 68.0}, 2, ""),
    ("happy waltz in G major at 120 bpm", "lookback_rnn",
     {"key": "G major", "qpm": 120.0, "time_signature": "3/4", "density": "medium"}, 4, ""),
    ("cheerful chorall in Bb, 8 bars", "chorale_transformer",
     {"key": "Bb major", "bars": 8, "qpm": 126.0}, 4, ""),
    ("dreamy flute tune in F# dorian, allegro, verse/chorus", "lookback_rnn",
     {"key": "F# dorian", "instrument": 73, "qpm": 140.0}, 4, "ABAB"),
    ("jig in A mixolydian, 32 bars", "lookback_rnn",
     {"key": "A mixolydian", "bars": 32, "time_signature": "6/8"}, 4, ""),
    ("sparse drum loop", "cat-drums_2bar_small", {"density": "low"}, 4, ""),
])
def test_prompts_compile_to_plans(prompt, bundle, controls, variations, form):
    plan = compile_prompt(prompt)
    assert (plan.bundle, plan.controls, plan.num_variations, plan.form) == (
        bundle, controls, variations, form)
    Controls.parse(**plan.controls)  # every plan is a valid set of controls


def test_the_compiler_says_what_it_understood_corrected_and_ignored():
    plan = compile_prompt("dreamy calm melody in D minr, 16 bars")
    assert plan.controls["key"] == "D minor" and plan.ignored == ["dreamy"]
    summary = plan.summary()
    assert summary.startswith("understood: D minor, 16 bars, calm, style melody -> "
                              "lookback_rnn") and "read 'minr' as 'minor'" in summary
    assert "ignored: 'dreamy'" in summary


@pytest.mark.parametrize("prompt, words", [
    ("a melody in C major and D minor", "two keys: C major and D minor"),
    ("16 bars, or maybe 8 bars", "two lengths: 16 and 8"),
    ("a folk chorale", "styles of different models"),
    ("", "the prompt is empty"),
])
def test_contradictions_are_refused(prompt, words):
    with pytest.raises(PromptError, match=words):
        compile_prompt(prompt)


def test_compose_writes_ranked_reproducible_variations(tmp_path):
    result = composer.compose("calm melody in D minor, 80 bpm, 8 bars, AABA, 3 variations",
                              tmp_path / "song", seed=7)
    record = json.loads((tmp_path / "song" / "compose.json").read_text())
    assert [v["file"] for v in record["variations"]] == [
        "variation_1.mid", "variation_2.mid", "variation_3.mid"]
    scores = [v["scores"]["score"] for v in record["variations"]]
    assert scores == sorted(scores, reverse=True) and len({v["seed"] for v in
                                                          record["variations"]}) == 3
    assert record["summary"].startswith("understood: D minor, 80 BPM, 8 bars")
    controls = Controls.parse(**record["plan"]["controls"])
    for entry in record["variations"]:
        path = tmp_path / "song" / entry["file"]
        sequence = read_file(path)[0]
        assert mido.MidiFile(path).length == pytest.approx(8 * 4 * 60 / 80)
        assert compliance.measure(sequence, controls)["checks"]["key"]
        assert entry["scores"]["parts"]["compliance"] == 1.0
        # the seed written down makes the same piece again
        again = composer.regenerate(tmp_path / "song" / "compose.json", entry["file"])
        assert [(n.pitch, round(n.start_time, 4)) for n in again.notes] == [
            (n.pitch, round(n.start_time, 4)) for n in sequence.notes]
    # AABA: the second A opens like the first (its first half kept), B does not.
    piece = result.variations[0].sequence
    section = 2 * 4 * 60 / 80

    def bar_notes(start):
        return [(n.pitch, round(n.start_time - start, 4)) for n in piece.notes
                if start <= n.start_time < start + section / 2]
    assert bar_notes(0.0) == bar_notes(section)
    assert bar_notes(0.0) != bar_notes(2 * section)
    with pytest.raises(Exception, match="already holds a composition"):
        composer.compose("calm melody", tmp_path / "song", seed=1)


def test_more_like_this_keeps_the_opening(tmp_path):
    first = composer.compose("folk tune in G major, 4 bars, 2 variations", tmp_path / "a",
                             seed=3)
    chosen = first.variations[1].path
    more = composer.vary(chosen, tmp_path / "b", num_variations=2, seed=4)
    source = read_file(chosen)[0]
    opening = [(n.pitch, round(n.start_time, 3)) for n in head(source, 2).notes]
    for variation in more.variations:
        notes = read_file(variation.path)[0].notes
        assert [(n.pitch, round(n.start_time, 3)) for n in notes
                if n.start_time < 4.0 - 1e-6][:len(opening)] == opening
    record = json.loads((tmp_path / "b" / "compose.json").read_text())
    assert record["vary_of"] == str(chosen)


def test_compose_script_prints_what_it_understood_and_the_table(tmp_path):
    from tests.test_cli import run_script
    done = run_script("compose", "--prompt=energetic rock beat, 2 bars, 2 variations",
                      f"--output_dir={tmp_path}", "--seed=1", "--drums=kick,snare")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("understood: 2 bars, 2 variations, energetic, style rock")
    assert any(line.split()[:2] == ["1", "variation_1.mid"] for line in lines)
    record = json.loads((tmp_path / "compose.json").read_text())
    assert record["controls"]["drums"] == ["kick", "snare"]   # the flag won over the prompt
    for entry in record["variations"]:
        notes = read_file(tmp_path / entry["file"])[0].notes
        assert notes and {n.pitch for n in notes} <= {36, 38}


def test_sections_join_back_to_back():
    a = Controls()
    model = musiczoo.load_bundle("basic_rnn")
    pieces = model.generate(2, controls=Controls.parse(bars=2), seed=1)
    whole = concatenate(pieces)
    assert whole.total_time == pytest.approx(8.0) and a.is_empty()
    assert len(whole.notes) == sum(len(p.notes) for p in pieces)
