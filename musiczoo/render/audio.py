"""Audio for a NoteSequence: `render` (numpy stereo) and `render_wav` (a file), with
General MIDI sounds (each note's program; drums, channel 10 in a MIDI file, from the drum
kit, bank 128), normalised loudness and a chosen sample rate. Works offline after
`pip install` alone.

Three synthesizers:
* "fluidsynth": the FluidSynth program, when it is installed (Debian: `fluidsynth`, with
  `fluid-soundfont-gm` for FluidR3_GM.sf2), renders the MIDI file; it has filters, chorus
  and reverb, so it sounds better.
* "midirenderer": the same kind of synthesizer (rustysynth, a FluidSynth-like engine with
  filters, chorus and reverb) compiled into the `midirenderer` wheel, for machines without
  the program: `pip install 'musiczoo[audio]'`. It renders at 48 kHz; other rates are
  resampled (polyphase, scipy).
* "musiczoo-sf2": otherwise our numpy SoundFont sampler (`sampler`) plays the notes with
  TimGM6mb.sf2, the small GM SoundFont inside pretty_midi's wheel, or another --soundfont.
`synth="auto"` takes FluidSynth when it is there, else midirenderer when installed, else
our sampler; info["synth"] says which one rendered.

Loudness: the rendered audio is scaled to a gated RMS of -20 dBFS (100 ms blocks; silence
and blocks 20 dB under the piece's level do not count), with a look-ahead limiter keeping
peaks under -1 dBFS. The limiter takes at most 6 dB off a peak; a piece with higher peaks
(sparse drum hits) ends up quieter than the target rather than squashed, and info says so.
Silence is never amplified.
"""
import io
import math
import os
import pathlib
import shutil
import subprocess
import tempfile
import wave

import numpy as np
from note_seq.protobuf import music_pb2

from musiczoo import outputs
from musiczoo.pipelines import writers
from musiczoo.pipelines.readers import errors, limits, midi
from musiczoo.render import sampler, sf2

TARGET_RMS_DBFS = -20.0
PEAK_CEILING_DBFS = -1.0
MAX_LIMITER_DB = 6.0
MAX_GAIN_DB = 60.0
#: Release (and reverb) tails after the music's end are cut here, faded out.
MAX_TAIL_SECONDS = 2.0
#: The longest audio rendered: 30 minutes of stereo float at 48 kHz is ~0.7 GB.
MAX_SECONDS = 30 * 60.0
MIN_RATE, MAX_RATE = 8000, 192000
#: Extension -> (libsndfile format, subtype); ".wav" is written by the stdlib.
FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS"),
           ".mp3": ("MP3", "MPEG_LAYER_III")}
_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
#: Where GM SoundFonts for FluidSynth are found (Debian/Ubuntu, Fedora/Arch, Homebrew).
FLUIDSYNTH_SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2",
                         "/usr/share/soundfonts/FluidR3_GM.sf2",
                         "/usr/share/sounds/sf2/default-GM.sf2",
                         "/usr/share/soundfonts/default.sf2",
                         "/opt/homebrew/share/soundfonts/default.sf2",
                         "/usr/local/share/soundfonts/default.sf2")
SYNTHS = ("auto", "sf2", "fluidsynth", "midirenderer")


class RenderError(ValueError):
    """Audio that cannot be made as asked (a missing synthesizer, a bad rate or format)."""


def render(sequence, sample_rate=44100, soundfont=None, synth="auto"):
    """Renders a NoteSequence (or the path or bytes of a MIDI file) to audio.

    Returns (audio, info): float32 [frames, 2] in -1..1, lasting the music (its notes or
    its longer total_time) plus the release tail (at most MAX_TAIL_SECONDS), and a dict
    with "synth" (e.g. "musiczoo-sf2 (TimGM6mb.sf2)"), "sample_rate", "seconds", "peak",
    "peak_dbfs", "rms_dbfs", "loudness" (what the normalisation did) and "notes" (presets
    substituted, notes nothing could play)."""
    sequence = as_sequence(sequence)
    rate = _check_rate(sample_rate)
    given = soundfont
    name, program, soundfont = choose_synth(synth, soundfont)  # program: a path or module
    end = max([sequence.total_time] + [note.end_time for note in sequence.notes])
    if end > MAX_SECONDS:
        raise RenderError(f"{end:,.0f} s of music; audio is rendered for at most "
                          f"{MAX_SECONDS:,.0f} s")
    notes = {}
    if name in ("fluidsynth", "midirenderer"):
        try:
            render_with = _render_fluidsynth if name == "fluidsynth" else _render_midirenderer
            audio, notes = render_with(sequence, rate, program, soundfont, end)
        except RenderError as error:
            if synth != "auto":
                raise
            # "auto" still makes audio: ours, saying why the other synthesizer did not.
            notes = {f"{name}_failed": str(error)}
            name, soundfont = "musiczoo-sf2", given and _check_soundfont(given)
            soundfont = soundfont or sf2.default_path()
    if name == "musiczoo-sf2":
        audio, played = _render_sampler(sequence, rate, soundfont, end)
        notes = {**notes, **played}
    audio, loudness = normalize(audio, rate)
    info = {"synth": f"{name} ({os.path.basename(soundfont)})", "soundfont": soundfont,
            "sample_rate": rate, "seconds": len(audio) / rate, "music_seconds": end,
            **loudness, "notes": notes}
    return audio, info


def render_wav(sequence_or_midi_path, path, sample_rate=44100, soundfont=None, synth="auto",
               overwrite=False):
    """Renders (see `render`) and writes an audio file, atomically; the format follows the
    extension: .wav (16-bit PCM stereo), .flac, .ogg (Vorbis) or .mp3 where this
    machine's libsndfile writes them. An existing file is replaced only with `overwrite`.
    Returns render's info with "path" and "format" added."""
    path = pathlib.Path(path).expanduser()
    kind = _check_format(path, _check_rate(sample_rate))
    outputs.check_target(path, overwrite)  # refuse before the work, not after
    audio, info = render(sequence_or_midi_path, sample_rate, soundfont, synth)
    outputs.output_dir(path.parent)
    write_audio(audio, info["sample_rate"], path, overwrite=overwrite)
    return {**info, "path": str(path), "format": kind}


def choose_synth(synth="auto", soundfont=None):
    """(name, program, soundfont path) of the synthesizer `synth` asks for: "sf2" our
    sampler, "fluidsynth" the FluidSynth program, "midirenderer" the midirenderer package
    (each an error when it is missing), "auto" FluidSynth if installed, else midirenderer
    if installed, else our sampler. FluidSynth and midirenderer take `soundfont`, else a GM
    SoundFont installed with FluidSynth, else TimGM6mb.sf2; our sampler `soundfont` or
    TimGM6mb. `program` is FluidSynth's path or the midirenderer module."""
    if synth not in SYNTHS:
        raise RenderError(f"synth {synth!r}: choose one of {', '.join(SYNTHS)}")
    if soundfont is not None:
        soundfont = _check_soundfont(soundfont)
    program = shutil.which("fluidsynth") if synth in ("auto", "fluidsynth") else None
    if synth == "fluidsynth" and not program:
        raise RenderError("synth 'fluidsynth' needs the fluidsynth program, which is not "
                          "installed (Debian/Ubuntu: apt-get install fluidsynth "
                          "fluid-soundfont-gm); synth 'sf2' renders without it")
    name = "fluidsynth"
    if not program and synth in ("auto", "midirenderer"):
        name, program = "midirenderer", _midirenderer()
        if synth == "midirenderer" and program is None:
            raise RenderError("synth 'midirenderer' needs the midirenderer package, which is "
                              "not installed (pip install 'musiczoo[audio]'); synth 'sf2' "
                              "renders without it")
    if program:
        found = [p for p in FLUIDSYNTH_SOUNDFONTS if os.path.isfile(p)]
        return name, program, soundfont or (found[0] if found else sf2.default_path())
    return "musiczoo-sf2", None, soundfont or sf2.default_path()


def _midirenderer():
    try:
        import midirenderer
    except (ImportError, OSError):  # OSError: its compiled library does not load here
        return None
    return midirenderer


def _check_soundfont(path):
    path = os.path.realpath(os.fspath(pathlib.Path(path).expanduser()))
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError as error:
        raise RenderError(f"{path}: cannot read the SoundFont: "
                          f"{error.strerror or error}") from None
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise RenderError(f"{path}: not a SoundFont 2 file (no RIFF 'sfbk' header)")
    return path


def as_sequence(source):
    """A checked NoteSequence from a NoteSequence or the path or bytes of a MIDI file
    (its total_time reaching the file's last event)."""
    if isinstance(source, music_pb2.NoteSequence):
        sequence = errors.check_sequence(source)
    elif isinstance(source, (bytes, bytearray, str, os.PathLike)):
        if isinstance(source, (bytes, bytearray)):
            name, data = "<bytes>", bytes(source)
        else:
            name = os.fspath(source)
            data = errors.read_bytes(name)
        sequence = midi.midi_bytes_to_sequence(data, name)
        sequence.total_time = max(sequence.total_time, _midi_length(data))
    else:
        raise TypeError(f"a NoteSequence or the path or bytes of a MIDI file, not "
                        f"{type(source).__name__}")
    for k, note in enumerate(sequence.notes):
        if not 0 <= note.program <= 127:
            raise RenderError(f"note {k}: program {note.program} outside the General MIDI "
                              "programs 0..127")
    return sequence


def _midi_length(data):
    """Seconds to the file's last event, its end of track included: a loop written to end
    on its bar line (`writers.midi_bytes`) lasts to it, though note_seq ends the piece at
    its last note. (The bytes passed the same scan already, so it cannot fail here.)"""
    return limits.scan_midi(data).seconds


def _check_rate(rate):
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or not (
            MIN_RATE <= rate <= MAX_RATE):
        raise RenderError(f"sample rate {rate!r}: give a whole number of Hz from {MIN_RATE} "
                          f"to {MAX_RATE} (44100 and 48000 are usual)")
    return int(rate)


def _render_sampler(sequence, rate, soundfont, end):
    font = sf2.load(soundfont)
    if any(cc.control_number == 64 for cc in sequence.control_changes):
        sequence = _with_sustain(sequence)
    notes = [sampler.Note(n.start_time, n.end_time, n.pitch, n.velocity, n.program,
                          n.is_drum, n.instrument) for n in sequence.notes]
    audio, report = sampler.render_notes(notes, font, rate, end, MAX_TAIL_SECONDS)
    return audio, {"voices": report["voices"], "fallbacks": report["fallbacks"],
                   "unplayed_notes": report["unplayed_notes"]}


def _with_sustain(sequence):
    """The sequence with its sustain pedal applied to note lengths (as a synth would)."""
    from note_seq import sequences_lib
    copy = music_pb2.NoteSequence()
    copy.CopyFrom(sequence)
    copy.ClearField("quantization_info")  # note_seq refuses quantized ones; times suffice
    return sequences_lib.apply_sustain_control_changes(copy)


def _render_fluidsynth(sequence, rate, program, soundfont, end):
    copy = music_pb2.NoteSequence()
    copy.CopyFrom(sequence)
    copy.total_time = end + MAX_TAIL_SECONDS  # so FluidSynth plays on through the tails
    data = writers.midi_bytes(copy)
    with tempfile.TemporaryDirectory(prefix="musiczoo-fluidsynth-") as folder:
        mid, out = os.path.join(folder, "in.mid"), os.path.join(folder, "out.wav")
        with open(mid, "wb") as f:
            f.write(data)
        sample_format = "float" if _soundfile() else "s16"
        command = [program, "-ni", "-g", "1", "-r", str(rate), "-T", "wav", "-O",
                   sample_format, "-F", out, soundfont, mid]
        try:
            done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=60 + 2 * end)
        except subprocess.TimeoutExpired:
            raise RenderError(f"fluidsynth took over {60 + 2 * end:.0f} s; synth 'sf2' "
                              "renders without it") from None
        if done.returncode or not os.path.isfile(out):
            detail = (done.stderr or done.stdout).decode("utf-8", "replace").strip()
            raise RenderError(f"fluidsynth failed (exit {done.returncode}): "
                              f"{detail[-500:] or 'no output file'}")
        audio, file_rate = read_audio(out)
    if audio.shape[1] != 2:
        audio = np.repeat(audio[:, :1], 2, axis=1)
    if file_rate != rate:
        raise RenderError(f"fluidsynth wrote {file_rate} Hz audio, not the {rate} Hz asked")
    return _trim_tail(audio, rate, end), {}


def _render_midirenderer(sequence, rate, module, soundfont, end):
    copy = music_pb2.NoteSequence()
    copy.CopyFrom(sequence)
    copy.total_time = end + MAX_TAIL_SECONDS  # the file's end of track: where it stops
    try:
        with open(soundfont, "rb") as f:
            font = f.read()
        data = module.render_wave_from(font, writers.midi_bytes(copy))
        with wave.open(io.BytesIO(data), "rb") as w:
            file_rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
            frames = w.readframes(w.getnframes())
    except (ValueError, RuntimeError, OSError, EOFError, wave.Error) as error:
        raise RenderError(f"midirenderer failed: {error}; synth 'sf2' renders without "
                          "it") from None
    if width != 2:
        raise RenderError(f"midirenderer wrote {8 * width}-bit audio, not 16-bit")
    audio = np.frombuffer(frames, "<i2").reshape(-1, channels).astype(np.float32) / 32768.0
    if channels != 2:
        audio = np.repeat(audio[:, :1], 2, axis=1)
    if file_rate != rate:
        from scipy import signal
        step = math.gcd(rate, file_rate)
        audio = signal.resample_poly(audio, rate // step, file_rate // step,
                                     axis=0).astype(np.float32)
    return _trim_tail(audio, rate, end), {}


def _trim_tail(audio, rate, end):
    """The music's `end` seconds, then the tail until it is 60 dB under the loudest moment
    (at most MAX_TAIL_SECONDS, ending in a 5 ms fade), padded with silence if shorter."""
    music = int(round(end * rate))
    level = np.abs(audio).max(axis=1) if len(audio) else np.zeros(0)
    loud = np.flatnonzero(level[music:] > level.max(initial=0.0) * 1e-3)
    frames = min(len(audio), music + (int(loud[-1]) + 1 if len(loud) else 0),
                 music + int(round(MAX_TAIL_SECONDS * rate)))
    audio = audio[:frames]
    if frames > music:  # ends with a 5 ms fade, never a click
        fade = min(frames - music, int(0.005 * rate))
        audio[frames - fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
    if len(audio) < music:
        audio = np.concatenate([audio, np.zeros((music - len(audio), 2), np.float32)])
    return audio


def loudness_dbfs(audio, sample_rate):
    """Gated RMS in dBFS (-inf for silence): the mean power of the 100 ms blocks that are
    above -70 dBFS and within 20 dB of those blocks' mean, both channels together."""
    block = max(int(sample_rate * 0.1), 1)
    frames = len(audio) // block * block
    power = np.square(audio)  # float32; the sums below are float64
    blocks = power[:frames].reshape(-1, block * audio.shape[1]).mean(axis=1, dtype=np.float64)
    if len(audio) > frames:
        blocks = np.append(blocks, power[frames:].mean(dtype=np.float64))
    blocks = blocks[blocks > 1e-7]
    if not len(blocks):
        return -math.inf
    blocks = blocks[blocks > blocks.mean() * 0.01]
    return 10.0 * math.log10(blocks.mean())


def normalize(audio, sample_rate, target_dbfs=TARGET_RMS_DBFS, ceiling_dbfs=PEAK_CEILING_DBFS):
    """Scales `audio` to `target_dbfs` gated RMS, peaks limited under `ceiling_dbfs`.
    Returns (audio, info) with "rms_dbfs", "peak", "peak_dbfs", "gain_db", "limiter_db"
    and "loudness" in words."""
    peak_in = float(np.abs(audio).max(initial=0.0))
    info = {"target_rms_dbfs": target_dbfs, "peak_ceiling_dbfs": ceiling_dbfs}
    if peak_in < 1e-6:  # silence (or next to it) stays as it is
        return audio, {**info, "rms_dbfs": -math.inf, "peak": peak_in, "peak_dbfs": _db(peak_in),
                       "gain_db": 0.0, "limiter_db": 0.0, "loudness": "silent: left as it is"}
    ceiling = 10.0 ** (ceiling_dbfs / 20.0)
    gain_db = min(target_dbfs - loudness_dbfs(audio, sample_rate), MAX_GAIN_DB)
    peak_bound = False
    for _ in range(3):  # the limiter lowers the RMS a little: make it up, twice at most
        over = _db(peak_in) + gain_db - ceiling_dbfs
        if over > MAX_LIMITER_DB:
            gain_db -= over - MAX_LIMITER_DB
            peak_bound = True
        out, reduction = _limit(audio * np.float32(10.0 ** (gain_db / 20.0)), ceiling,
                                sample_rate)
        rms = loudness_dbfs(out, sample_rate)
        if peak_bound or abs(rms - target_dbfs) < 0.1:
            break
        gain_db = min(gain_db + target_dbfs - rms, MAX_GAIN_DB)
    peak = float(np.abs(out).max())
    words = (f"gated RMS {rms:.1f} dBFS (target {target_dbfs:g}), peaks under "
             f"{ceiling_dbfs:g} dBFS")
    if reduction > 0.05:
        words += f", limiter took up to {reduction:.1f} dB off"
    if peak_bound:
        words += f"; below the target: louder would need over {MAX_LIMITER_DB:g} dB of limiting"
    return out, {**info, "rms_dbfs": rms, "peak": peak, "peak_dbfs": _db(peak),
                 "gain_db": gain_db, "limiter_db": reduction, "loudness": words}


def _limit(audio, ceiling, sample_rate):
    """A look-ahead peak limiter: the gain each frame needs, taken as the minimum over
    +-40 ms and smoothed over +-20 ms (so it never rises above what any peak within reach
    needs), then a hard clip for rounding. Returns (audio, largest reduction in dB)."""
    level = np.abs(audio).max(axis=1) if len(audio) else np.zeros(0, np.float32)
    need = np.minimum(1.0, ceiling / np.maximum(level, 1e-12)).astype(np.float32)
    if not len(need) or need.min() >= 1.0:
        return audio, 0.0
    from scipy import ndimage
    reach = max(int(0.04 * sample_rate), 1)
    gain = ndimage.minimum_filter1d(need, 2 * reach + 1, mode="nearest")
    gain = ndimage.uniform_filter1d(gain, 2 * (reach // 2) + 1, mode="nearest")
    out = audio * gain[:, None]
    np.clip(out, -ceiling, ceiling, out=out)
    return out, -_db(float(gain.min()))


def _db(x):
    return 20.0 * math.log10(x) if x > 0 else -math.inf


def _soundfile():
    try:
        import soundfile
    except (ImportError, OSError):  # OSError: the wheel's libsndfile does not load here
        return None
    return soundfile


def _check_format(path, rate):
    kind = path.suffix.lower()
    if kind not in FORMATS:
        raise RenderError(f"{path}: unknown audio format {path.suffix or '(no extension)'!r}; "
                          f"use one of {', '.join(FORMATS)}")
    if kind == ".wav":
        return "wav"
    soundfile = _soundfile()
    fmt, subtype = FORMATS[kind]
    if soundfile is None or not soundfile.check_format(fmt, subtype):
        raise RenderError(f"{path}: writing {kind} needs libsndfile with {fmt} support, "
                          "which this machine's soundfile package lacks; write .wav instead")
    if kind == ".mp3" and rate not in _MP3_RATES:
        raise RenderError(f"{path}: MP3 cannot hold {rate} Hz audio; use one of "
                          f"{', '.join(map(str, _MP3_RATES))}")
    return kind[1:]


def write_audio(audio, sample_rate, path, overwrite=False):
    """Writes float stereo audio to `path` (format by extension, see FORMATS) atomically
    through `outputs.atomic_file`; returns the path."""
    path = pathlib.Path(path)
    kind = _check_format(path, sample_rate)
    audio = np.asarray(audio, np.float32)
    if kind == "wav":
        pcm = np.clip(np.round(audio * 32767.0), -32768, 32767).astype("<i2")
        with outputs.atomic_file(path, overwrite) as f:
            with wave.open(f, "wb") as w:
                w.setnchannels(audio.shape[1])
                w.setsampwidth(2)
                w.setframerate(sample_rate)
                w.writeframes(pcm.tobytes())
    else:
        fmt, subtype = FORMATS[path.suffix.lower()]
        with outputs.atomic_file(path, overwrite) as f:
            _soundfile().write(f, audio, sample_rate, format=fmt, subtype=subtype)
    return path


def read_audio(path):
    """(float32 [frames, channels] audio, sample rate) of an audio file: 16-bit WAV with
    the stdlib, anything else through soundfile."""
    soundfile = _soundfile()
    if soundfile is not None:
        audio, rate = soundfile.read(os.fspath(path), dtype="float32", always_2d=True)
        return audio, int(rate)
    with wave.open(os.fspath(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise RenderError(f"{path}: only 16-bit WAV can be read without soundfile")
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
        audio = pcm.reshape(-1, w.getnchannels()).astype(np.float32) / 32768.0
        return audio, w.getframerate()
