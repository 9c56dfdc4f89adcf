"""Audio rendering, measured on the audio itself: loudness, length, pitch, onsets, drums,
files read back, and SoundFonts that must be refused. The numpy sampler (synth "sf2") is
what every machine has; the FluidSynth tests skip where the program is not installed, the
midirenderer ones where the [audio] extra is not."""
import math
import shutil
import struct
import time
import wave

import numpy as np
import pytest
from note_seq.protobuf import music_pb2

from musiczoo import outputs
from musiczoo.pipelines import writers
from musiczoo.render import audio, sampler, sf2

SR = 44100
CEILING = 10 ** (audio.PEAK_CEILING_DBFS / 20)
needs_fluidsynth = pytest.mark.skipif(shutil.which("fluidsynth") is None,
                                      reason="the fluidsynth program is not installed")


def sequence(notes, qpm=120.0, total_time=None):
    """notes: (start, end, pitch[, program[, is_drum[, velocity]]])."""
    s = music_pb2.NoteSequence()
    s.tempos.add(qpm=qpm)
    for start, end, pitch, *rest in notes:
        program, is_drum, velocity = (list(rest) + [0, False, 100][len(rest):])[:3]
        s.notes.add(start_time=start, end_time=end, pitch=pitch, program=program,
                    is_drum=is_drum, velocity=velocity, instrument=9 if is_drum else 0)
    s.total_time = total_time or max(n.end_time for n in s.notes)
    return s


def melody(bars=16):
    """Eighth notes up and down a C major scale, 120 qpm: 2 s a bar."""
    scale = [60, 62, 64, 65, 67, 69, 71, 72, 74, 72, 71, 69, 67, 65, 64, 62]
    return sequence([(k * 0.25, k * 0.25 + 0.25, scale[k % 16]) for k in range(8 * bars)])


def drum_loop():
    notes = [(k * 0.125, k * 0.125 + 0.1, 42, 0, True, 80) for k in range(32)]
    notes += [(t, t + 0.1, 36, 0, True, 110) for t in (0.0, 1.0, 2.0, 2.75, 3.0)]
    notes += [(t, t + 0.1, 38, 0, True, 100) for t in (0.5, 1.5, 2.5, 3.5)]
    return sequence(notes, total_time=4.0)


def rms_db(x):
    return 10 * math.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-20)


def fundamental(x, sr=SR):
    """The f0 whose first six harmonics hold the most (compressed) spectral energy: an
    FFT peak alone lands on the loudest harmonic, often the octave, in flute and piano."""
    mono = x.mean(axis=1) * np.hanning(len(x))
    spectrum = np.abs(np.fft.rfft(mono, 8 * len(mono)))
    freqs = np.fft.rfftfreq(8 * len(mono), 1 / sr)
    candidates = np.arange(40.0, 2000.0, 0.25)
    score = sum(np.sqrt(np.interp(k * candidates, freqs, spectrum)) for k in range(1, 7))
    return candidates[np.argmax(score)]


def semitones(f, pitch):
    return 12 * math.log2(f / (440.0 * 2 ** ((pitch - 69) / 12)))


def frame_db(x, sr=SR, hop=0.01):
    n = int(sr * hop)
    k = len(x) // n
    return 10 * np.log10(np.square(x[:k * n], dtype=np.float64).reshape(k, -1).mean(1) + 1e-12)


# --- loudness, length -----------------------------------------------------------------

@pytest.mark.parametrize("make", [melody, drum_loop], ids=["melody", "drums"])
def test_audio_is_normalised_not_silent(make):
    s = make()
    out, info = audio.render(s, synth="sf2")
    assert out.dtype == np.float32 and out.ndim == 2 and out.shape[1] == 2
    music = out[:int(s.total_time * SR)]
    assert abs(rms_db(music) - audio.TARGET_RMS_DBFS) < 1.0, info["loudness"]
    assert abs(info["rms_dbfs"] - audio.TARGET_RMS_DBFS) < 0.25
    assert np.abs(out).max() <= CEILING + 1e-6
    assert info["peak"] == pytest.approx(float(np.abs(out).max()))
    assert info["synth"] == "musiczoo-sf2 (TimGM6mb.sf2)" and info["sample_rate"] == SR


def test_silence_is_not_amplified():
    s = sequence([(0.0, 1.0, 60, 0, False, 0)])  # velocity 0: nothing sounds
    out, info = audio.render(s, synth="sf2")
    assert np.abs(out).max() == 0.0 and info["gain_db"] == 0.0
    assert info["notes"]["unplayed_notes"] == 1 and "silent" in info["loudness"]


def test_length_is_the_music_plus_the_release_tail():
    s = sequence([(0.0, 1.0, 60), (1.0, 2.0, 64)], total_time=3.0)  # a bar line after
    out, info = audio.render(s, synth="sf2")
    assert info["seconds"] == pytest.approx(len(out) / SR)
    assert info["music_seconds"] == 3.0 and 3.0 <= info["seconds"] <= 3.0 + 2.0
    s = sequence([(0.0, 1.0, 60)])  # a piano note: its release rings on after the note-off
    out, info = audio.render(s, synth="sf2")
    tail = info["seconds"] - 1.0
    assert 0.2 < tail <= audio.MAX_TAIL_SECONDS
    db = frame_db(out)
    assert db[105] > db[95] - 25  # still sounding just after the note-off ...
    assert db[-2] < db[95] - 60  # ... and gone by the end
    long = sequence([(0.0, 1.0, 73, 0, False)] + [(0.0, 1.0, 46, 0, True)])  # open hi-hat
    assert audio.render(long, synth="sf2")[1]["seconds"] <= 1.0 + audio.MAX_TAIL_SECONDS


# --- pitch, onsets, drums -------------------------------------------------------------

@pytest.mark.parametrize("program", [0, 73], ids=["piano", "flute"])
@pytest.mark.parametrize("pitch", [48, 60, 69, 84])
def test_a_sustained_note_sounds_at_its_pitch(program, pitch):
    out, _ = audio.render(sequence([(0.0, 1.0, pitch, program)]), synth="sf2")
    f0 = fundamental(out[int(0.1 * SR):int(0.9 * SR)])
    assert abs(semitones(f0, pitch)) < 1.0, f"{f0:.1f} Hz for MIDI {pitch}"


@pytest.mark.parametrize("program", [73, 52], ids=["flute", "choir"])
def test_a_held_note_sounds_until_it_is_let_go(program):
    out, _ = audio.render(sequence([(0.0, 3.0, 67, program)]), synth="sf2")
    early, late = out[int(0.4 * SR):int(0.8 * SR)], out[int(2.5 * SR):int(2.9 * SR)]
    late = late - late.mean(axis=0)  # a sample run out and held would be a DC offset
    assert rms_db(late) > rms_db(early) - 12  # the samples are well under a second long:
    assert abs(semitones(fundamental(late), 67)) < 1.0  # their loops carry the note
    assert frame_db(out)[-2] < rms_db(late) - 50


def test_an_octave_apart_is_an_octave_apart():
    low, _ = audio.render(sequence([(0.0, 1.0, 57, 73)]), synth="sf2")
    high, _ = audio.render(sequence([(0.0, 1.0, 69, 73)]), synth="sf2")
    ratio = fundamental(high[4410:39690]) / fundamental(low[4410:39690])
    assert abs(12 * math.log2(ratio) - 12) < 0.5


def onsets(x, threshold_db=12.0):
    """Times (s) where the energy of the next 20 ms is threshold_db over the 30 ms before
    (10 ms frames; the first frame of each run of rising frames)."""
    db = frame_db(x)
    before = np.maximum.reduce([db[2:-2], db[1:-3], db[:-4]])
    rise = np.maximum(db[3:-1], db[4:]) - before
    frames = np.flatnonzero(rise > threshold_db) + 3
    kept = [f for k, f in enumerate(frames) if k == 0 or f - frames[k - 1] > 5]
    return np.array(kept) * 0.01


@pytest.mark.parametrize("program", [0, 73], ids=["piano", "flute"])
def test_notes_start_where_the_notes_are(program):
    starts = [0.5, 1.0, 1.5, 2.0]
    s = sequence([(t, t + 0.3, 60 + 2 * k, program) for k, t in enumerate(starts)],
                 total_time=2.5)
    out, _ = audio.render(s, synth="sf2")
    found = onsets(out)
    assert len(found) == 4, found
    assert np.abs(found - np.array(starts)).max() <= 0.02, found
    assert rms_db(out[:int(0.45 * SR)]) < -100  # nothing before the first note


def test_drums_play_the_drum_kit_on_channel_10(tmp_path):
    kit = sf2.load().presets[(128, 0)]
    for pitch in (36, 38, 42):
        drum, info = audio.render(sequence([(0.0, 0.1, pitch, 0, True)], total_time=0.5),
                                  synth="sf2")
        assert rms_db(drum[:int(0.1 * SR)]) > -30 and info["notes"]["fallbacks"] == []
        played = [r for r in kit.regions if r.key_lo <= pitch <= r.key_hi]
        assert played  # the kit has this drum, and it is not the piano's note:
        piano, _ = audio.render(sequence([(0.0, 0.1, pitch, 0, False)], total_time=0.5),
                                synth="sf2")
        n = min(len(drum), len(piano))
        assert abs(np.corrcoef(drum[:n, 0], piano[:n, 0])[0, 1]) < 0.5
    # Through a MIDI file: the drums are on channel 10 there, and come back as the kit.
    path = writers.write_midi(drum_loop(), tmp_path / "loop.mid")
    import mido
    channels = {m.channel for t in mido.MidiFile(path).tracks for m in t if m.type == "note_on"}
    assert channels == {9}
    from_file, info = audio.render(path, synth="sf2")
    direct, _ = audio.render(drum_loop(), synth="sf2")
    assert info["notes"]["fallbacks"] == [] and info["notes"]["unplayed_notes"] == 0
    assert info["music_seconds"] == pytest.approx(4.0)  # the file's end, on the bar line
    db_file, db_direct = frame_db(from_file)[:390], frame_db(direct)[:390]
    assert np.abs(db_file - db_direct).max() < 3.0  # the same hits, a tick's rounding apart


def test_a_closed_hi_hat_cuts_an_open_one():
    font = sf2.load()

    def level_after(notes):
        out, _ = sampler.render_notes(notes, font, SR, 2.0, 2.0)
        return rms_db(out[int(0.4 * SR):int(1.0 * SR)])

    hat = sampler.Note(0.0, 1.0, 46, 100, 0, True, 9)
    closed = sampler.Note(0.3, 0.35, 42, 100, 0, True, 9)
    assert level_after([hat]) - level_after([hat, closed]) > 20


def test_a_missing_program_falls_back_to_the_nearest_and_says_so():
    font = sf2.load()
    presets = {k: v for k, v in font.presets.items() if k != (0, 73)}
    thin = sf2.SoundFont(font.path, font.name, font.samples, presets)
    preset, note = sampler.choose_preset(thin, 73, False)
    assert (preset.bank, preset.program) == (0, 72) and "73 -> 72" in note
    no_kits = sf2.SoundFont(font.path, font.name, font.samples,
                            {k: v for k, v in font.presets.items() if k[0] != 128})
    assert sampler.choose_preset(no_kits, 0, True)[0] is None


def test_a_midi_file_keeps_its_programs(tmp_path):
    s = sequence([(0.0, 1.0, 69, 73)])
    path = writers.write_midi(s, tmp_path / "flute.mid")
    from_file, _ = audio.render(str(path), synth="sf2")
    flute, _ = audio.render(s, synth="sf2")
    s.notes[0].program = 0
    piano, _ = audio.render(s, synth="sf2")
    n = min(len(from_file), len(flute), len(piano))
    assert np.corrcoef(from_file[:n, 0], flute[:n, 0])[0, 1] > 0.99
    assert np.corrcoef(from_file[:n, 0], piano[:n, 0])[0, 1] < 0.5


def test_rendering_is_fast():
    s = melody(16)  # 128 notes, 32 s
    audio.render(s, synth="sf2")  # the SoundFont is parsed once
    start = time.perf_counter()
    out, info = audio.render(s, synth="sf2")
    assert time.perf_counter() - start < 1.0 and info["seconds"] > 32


# --- files ----------------------------------------------------------------------------

@pytest.mark.parametrize("rate", [22050, 44100])
def test_wav_files_have_the_rate_asked_for(tmp_path, rate):
    path = tmp_path / "out" / "melody.wav"
    info = audio.render_wav(melody(2), path, sample_rate=rate, synth="sf2")
    assert info["path"] == str(path) and info["format"] == "wav"
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (rate, 2, 2)
        assert w.getnframes() == round(info["seconds"] * rate)
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2") / 32768.0
    assert abs(rms_db(pcm[:int(4.0 * rate) * 2]) - audio.TARGET_RMS_DBFS) < 1.0
    import soundfile
    data, read_rate = soundfile.read(str(path))
    assert read_rate == rate and data.shape == (w.getnframes(), 2)


def test_an_existing_file_is_not_replaced_without_overwrite(tmp_path):
    path = tmp_path / "a.wav"
    path.write_bytes(b"keep me")
    with pytest.raises(outputs.OutputError, match="already exists"):
        audio.render_wav(melody(1), path, synth="sf2")
    assert path.read_bytes() == b"keep me"
    audio.render_wav(melody(1), path, synth="sf2", overwrite=True)
    with wave.open(str(path), "rb") as w:
        assert w.getframerate() == SR
    assert [p.name for p in tmp_path.iterdir()] == ["a.wav"]  # no temporary left behind


@pytest.mark.parametrize("extension", [".flac", ".ogg", ".mp3"])
def test_compressed_formats_where_libsndfile_has_them(tmp_path, extension):
    import soundfile
    fmt, subtype = audio.FORMATS[extension]
    if not soundfile.check_format(fmt, subtype):
        with pytest.raises(audio.RenderError, match="write .wav instead"):
            audio.render_wav(melody(1), tmp_path / f"x{extension}", synth="sf2")
        return
    path = tmp_path / f"x{extension}"
    info = audio.render_wav(melody(2), path, sample_rate=22050, synth="sf2")
    data, rate = soundfile.read(str(path))
    assert rate == 22050 and data.shape[1] == 2
    assert abs(len(data) / rate - info["seconds"]) < 0.1  # MP3 pads a frame or two
    assert abs(rms_db(data[:4 * rate]) - audio.TARGET_RMS_DBFS) < 1.0


def test_bad_requests_are_refused_before_any_work(tmp_path):
    with pytest.raises(audio.RenderError, match="unknown audio format"):
        audio.render_wav(melody(1), tmp_path / "x.aiff2", synth="sf2")
    with pytest.raises(audio.RenderError, match="sample rate"):
        audio.render(melody(1), sample_rate=1000)
    with pytest.raises(audio.RenderError, match="choose one of"):
        audio.render(melody(1), synth="timidity")
    s = melody(1)
    s.notes[0].program = 200
    with pytest.raises(audio.RenderError, match="program 200"):
        audio.render(s, synth="sf2")
    assert list(tmp_path.iterdir()) == []


# --- SoundFonts -----------------------------------------------------------------------

def test_the_soundfont_is_parsed_once_per_process():
    assert sf2.load() is sf2.load(sf2.default_path())
    font = sf2.load()
    assert len([k for k in font.presets if k[0] == 0]) == 128 and (128, 0) in font.presets


def _chunk(data, cid):
    at = data.index(cid)
    return at + 8, struct.unpack_from("<I", data, at + 4)[0]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "bag_index", "sample_id",
                                    "sample_points", "odd_table", "no_pdta"])
def test_a_malformed_soundfont_is_refused_naming_the_file(tmp_path, damage):
    data = bytearray(open(sf2.default_path(), "rb").read())
    if damage == "garbage":
        data = bytearray(b"RIFF\x10\x00\x00\x00sfbkLIST" + bytes(100))
    elif damage == "truncated":
        data = data[:len(data) // 2]
    elif damage == "bag_index":  # a preset whose zones lie past the zone table
        body, _ = _chunk(data, b"phdr")
        struct.pack_into("<H", data, body + 38 * 3 + 24, 65535)
    elif damage == "sample_id":  # an instrument zone naming a sample that is not there
        body, size = _chunk(data, b"igen")
        records = np.frombuffer(bytes(data[body:body + size]), "<u2").reshape(-1, 2)
        k = int(np.flatnonzero(records[:, 0] == sf2.SAMPLE_ID)[0])
        struct.pack_into("<H", data, body + 4 * k + 2, 60000)
    elif damage == "sample_points":  # a sample rate no sample has
        body, _ = _chunk(data, b"shdr")
        struct.pack_into("<I", data, body + 36, 5)
    elif damage == "odd_table":
        body, size = _chunk(data, b"pbag")
        struct.pack_into("<I", data, body - 4, size - 1)
    elif damage == "no_pdta":
        at = data.index(b"pdta")
        data[at:at + 4] = b"xxxx"
    path = tmp_path / "broken.sf2"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="broken.sf2"):
        sf2.parse(path)
    with pytest.raises(ValueError, match="broken.sf2"):
        audio.render(melody(1), soundfont=path, synth="sf2")


def test_damaged_soundfonts_are_refused_or_played_never_crash():
    """Random bytes changed in the preset, instrument and sample tables: every damaged
    file is either refused with a ValueError or plays finite audio (1,200 such files
    were tried when this was written; here a seeded dozen)."""
    data = open(sf2.default_path(), "rb").read()
    pdta = data.index(b"pdta")
    rng = np.random.default_rng(13)
    notes = [sampler.Note(0.0, 0.3, pitch, 100, program, drum, 9 if drum else 0)
             for pitch, program, drum in [(60, 0, False), (30, 73, False), (90, 19, False),
                                          (36, 0, True), (46, 0, True), (100, 56, False)]]
    for _ in range(12):
        damaged = bytearray(data)
        for at in rng.integers(pdta, len(data), size=int(rng.integers(1, 20))):
            damaged[at] = int(rng.integers(0, 256))
        try:
            font = sf2._Parser("damaged.sf2", bytes(damaged)).soundfont()
        except ValueError as error:
            assert str(error).startswith("damaged.sf2: ")
            continue
        out, _ = sampler.render_notes(notes, font, 22050, 0.5, 2.0)
        assert np.isfinite(out).all() and len(out) <= 22050 * 2.5


def test_not_a_soundfont_at_all(tmp_path):
    path = tmp_path / "song.mid"
    writers.write_midi(melody(1), path)
    with pytest.raises(audio.RenderError, match="song.mid: not a SoundFont 2 file"):
        audio.render(melody(1), soundfont=path)
    with pytest.raises(audio.RenderError, match="cannot read"):
        audio.render(melody(1), soundfont=tmp_path / "missing.sf2")


# --- FluidSynth -----------------------------------------------------------------------

@needs_fluidsynth
def test_fluidsynth_renders_normalised_audio_at_the_right_pitch():
    out, info = audio.render(sequence([(0.0, 1.0, 69, 73)]), 22050, synth="fluidsynth")
    assert info["synth"].startswith("fluidsynth (") and info["sample_rate"] == 22050
    assert abs(semitones(fundamental(out[2205:19845], 22050), 69)) < 1.0
    assert np.abs(out).max() <= CEILING + 1e-6
    s = melody(4)
    out, info = audio.render(s, synth="auto")
    assert info["synth"].startswith("fluidsynth")
    assert abs(rms_db(out[:int(s.total_time * SR)]) - audio.TARGET_RMS_DBFS) < 1.0
    assert s.total_time <= info["seconds"] <= s.total_time + audio.MAX_TAIL_SECONDS


@needs_fluidsynth
def test_fluidsynth_plays_drums_from_the_kit():
    starts = [0.5, 1.0, 1.5, 2.0]
    kicks = sequence([(t, t + 0.1, 36, 0, True) for t in starts], total_time=2.5)
    out, info = audio.render(kicks, synth="fluidsynth", soundfont=sf2.default_path())
    assert info["synth"] == "fluidsynth (TimGM6mb.sf2)"
    found = onsets(out)
    assert len(found) == 4 and np.abs(found - np.array(starts)).max() <= 0.02, found
    for note in kicks.notes:
        note.is_drum = False
    piano, _ = audio.render(kicks, synth="fluidsynth", soundfont=sf2.default_path())
    n = min(len(out), len(piano))
    assert abs(np.corrcoef(out[:n, 0], piano[:n, 0])[0, 1]) < 0.5


def test_fluidsynth_asked_for_but_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(audio.RenderError, match="needs the fluidsynth program"):
        audio.render(melody(1), synth="fluidsynth")
    auto = "midirenderer" if audio._midirenderer() else "musiczoo-sf2"
    assert audio.render(melody(1), synth="auto")[1]["synth"].startswith(auto)
    monkeypatch.setattr(audio, "_midirenderer", lambda: None)  # as without the [audio] extra
    assert audio.render(melody(1), synth="auto")[1]["synth"].startswith("musiczoo-sf2")
    with pytest.raises(audio.RenderError, match=r"needs the midirenderer package.*\[audio\]"):
        audio.render(melody(1), synth="midirenderer")


def test_a_failing_fluidsynth_is_reported_and_auto_falls_back(tmp_path, monkeypatch):
    program = tmp_path / "fluidsynth"  # a broken installation: the program exits with 3
    program.write_text("#!/bin/sh\necho 'fluidsynth: error: no audio here' >&2\nexit 3\n")
    program.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(audio, "_midirenderer", lambda: None)  # as without the [audio] extra
    with pytest.raises(audio.RenderError, match=r"fluidsynth failed \(exit 3\).*no audio here"):
        audio.render(melody(1), synth="fluidsynth")
    out, info = audio.render(melody(1), synth="auto")
    assert info["synth"] == "musiczoo-sf2 (TimGM6mb.sf2)" and rms_db(out) > -30
    assert "exit 3" in info["notes"]["fluidsynth_failed"]


# --- midirenderer (the [audio] extra) --------------------------------------------------

needs_midirenderer = pytest.mark.skipif(audio._midirenderer() is None,
                                        reason="the midirenderer package is not installed")


@needs_midirenderer
def test_midirenderer_renders_normalised_audio_at_the_right_pitch_and_rate(monkeypatch):
    out, info = audio.render(sequence([(0.0, 1.0, 69, 73)]), 22050, synth="midirenderer")
    assert info["synth"].startswith("midirenderer (") and info["sample_rate"] == 22050
    assert abs(semitones(fundamental(out[2205:19845], 22050), 69)) < 1.0  # resampled from 48k
    assert np.abs(out).max() <= CEILING + 1e-6
    # Its reverb rings on past our (dry) sampler's release with the same SoundFont.
    ours, _ = audio.render(sequence([(0.0, 1.0, 69, 73)]), 22050, info["soundfont"], "sf2")
    assert len(out) > len(ours) + 0.2 * 22050
    monkeypatch.setenv("PATH", "")  # no FluidSynth program: "auto" takes midirenderer
    s = melody(4)
    out, info = audio.render(s, synth="auto")
    assert info["synth"].startswith("midirenderer (") and info["sample_rate"] == SR
    assert abs(rms_db(out[:int(s.total_time * SR)]) - audio.TARGET_RMS_DBFS) < 1.0
    assert s.total_time <= info["seconds"] <= s.total_time + audio.MAX_TAIL_SECONDS


@needs_midirenderer
def test_midirenderer_plays_drums_from_the_kit():
    starts = [0.5, 1.0, 1.5, 2.0]
    kicks = sequence([(t, t + 0.1, 36, 0, True) for t in starts], total_time=2.5)
    out, _ = audio.render(kicks, synth="midirenderer")
    found = onsets(out)
    assert len(found) == 4 and np.abs(found - np.array(starts)).max() <= 0.02, found
    for note in kicks.notes:
        note.is_drum = False
    piano, _ = audio.render(kicks, synth="midirenderer")
    n = min(len(out), len(piano))
    assert abs(np.corrcoef(out[:n, 0], piano[:n, 0])[0, 1]) < 0.5


@needs_midirenderer
def test_a_soundfont_midirenderer_cannot_read_is_a_clear_error(tmp_path):
    broken = tmp_path / "cut.sf2"  # a real SoundFont's header, the rest cut off
    broken.write_bytes(open(sf2.default_path(), "rb").read()[:100000])
    with pytest.raises(audio.RenderError, match="midirenderer failed: SoundFont error"):
        audio.render(melody(1), soundfont=broken, synth="midirenderer")
