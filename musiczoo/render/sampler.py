"""A SoundFont 2 sampler in numpy: notes in, stereo float audio out.

Each note plays every region of its preset that covers its key and velocity (layers add).
A voice is rendered whole, as arrays: sample positions at the playback rate (root key,
scale tuning, coarse and fine tune, the sample's own rate), looped for looping samples,
read by linear interpolation; times a volume envelope (delay, linear attack, hold, decay in
decibels to the sustain level, and after the note-off a release of 96 dB per release time,
as FluidSynth does); times the level (initialAttenuation and the SoundFont default velocity
curve, (velocity / 127) ** 2) and constant-power pan. A voice stops once it is 90 dB down,
when a non-looping sample runs out, or when a later note of the same exclusive class (an
open hi-hat cut by a closed one) starts on the same channel.

Not done: filters, modulation envelope and LFOs, modulators other than the default
velocity curve, pitch bend, chorus and reverb.
"""
import dataclasses
import math

import numpy as np

#: Audible floor: a voice ends when its level falls this far below full scale.
FLOOR_DB = 90.0
#: The envelope's full range in dB (FluidSynth's 960 cB): decay and release times are the
#: time to fall this far.
ENVELOPE_DB = 96.0
_CUT_SECONDS = 0.005  # fade when an exclusive class or the tail cap ends a voice
#: Shorter notes sound this long (FluidSynth's synth.min-note-length), so that a note
#: whose on and off share a time is heard rather than lost in the envelope's delay.
MIN_NOTE_SECONDS = 0.01


@dataclasses.dataclass(frozen=True)
class Note:
    start: float
    end: float
    pitch: int
    velocity: int
    program: int
    is_drum: bool
    channel: int  # voices cut each other (exclusive class) only on one channel


def choose_preset(soundfont, program, is_drum):
    """(preset, note): the preset for a GM program (drums: bank 128, the kit `program`),
    or the nearest one there is, with a note saying what was used instead; (None, note)
    when the SoundFont has no preset at all for it."""
    presets = soundfont.presets
    if is_drum:
        for key in ((128, program), (128, 0)):
            if key in presets:
                return presets[key], None if key[1] == program else (
                    f"drum kit {program} -> {key[1]} ({presets[key].name})")
        kits = sorted(k for k in presets if k[0] == 128)
        if kits:
            return presets[kits[0]], f"drum kit {program} -> {kits[0][1]} ({presets[kits[0]].name})"
        return None, f"drum kit {program}: the SoundFont has no drum kit (bank 128)"
    if (0, program) in presets:
        return presets[(0, program)], None
    melodic = sorted(k for k in presets if k[0] != 128)
    if not melodic:
        return None, f"program {program}: the SoundFont has no melodic presets"
    family = program // 8  # GM groups programs in families of 8 (pianos, organs, ...)
    key = min(melodic, key=lambda k: (k[0] != 0, (k[1] // 8) != family, abs(k[1] - program),
                                      k[1]))
    return presets[key], f"program {program} -> {key[1]} ({presets[key].name})"


def render_notes(notes, soundfont, sample_rate, end_time, max_tail):
    """Stereo float32 audio [frames, 2] of `notes`: `end_time` seconds of music plus the
    release tails, at most `max_tail` seconds more. Returns (audio, report), the report
    counting voices and naming preset substitutions and notes nothing could play."""
    sr = float(sample_rate)
    music_frames = int(round(end_time * sr))
    cap_frames = music_frames + int(round(max_tail * sr))
    voices, fallbacks, unplayed = [], {}, 0
    chosen = {}
    for note in notes:
        key = (note.program, note.is_drum)
        if key not in chosen:
            chosen[key] = choose_preset(soundfont, note.program, note.is_drum)
            if chosen[key][1]:
                fallbacks[chosen[key][1]] = True
        preset = chosen[key][0]
        regions = [] if preset is None else [
            r for r in preset.regions
            if r.key_lo <= note.pitch <= r.key_hi and r.vel_lo <= note.velocity <= r.vel_hi]
        if not regions or note.velocity <= 0:
            unplayed += 1
        for region in regions if note.velocity > 0 else ():
            voices.append(_plan(note, region, sr))
    _cut_exclusive(voices, sr)
    frames = max([music_frames] + [v["first"] + v["length"] for v in voices])
    frames = min(frames, cap_frames)
    audio = np.zeros((2, frames), np.float32)  # channels apart: each row is contiguous
    for voice in voices:
        if voice["first"] < frames and voice["length"] > 0:
            _render_voice(voice, soundfont.samples, audio, sr)
    audio = np.ascontiguousarray(audio.T)
    report = {"voices": len(voices), "fallbacks": list(fallbacks), "unplayed_notes": unplayed}
    return audio, report


def _plan(note, r, sr):
    """A voice's numbers: where it starts, how long it sounds, and its rates and levels."""
    key = note.pitch
    # Ten octaves either way at most: a hostile SoundFont's tuning cannot overflow.
    cents = min(max(r.scale_tuning * (key - r.root_key) + r.tune_cents, -12000.0), 12000.0)
    step = 2.0 ** (cents / 1200.0) * r.sample_rate / sr  # source samples per output frame
    hold = _tc(r.hold_tc + r.key_to_hold * (60 - key))
    decay = _tc(r.decay_tc + r.key_to_decay * (60 - key))
    gain_db = -r.attenuation_cb / 10.0 + 40.0 * math.log10(note.velocity / 127.0)
    sustain_db = min(ENVELOPE_DB * r.sustain_cb / 1000.0, ENVELOPE_DB)
    env = (r.delay, r.attack, hold, decay, sustain_db)
    held = max(note.end - note.start, MIN_NOTE_SECONDS)
    level_off = _envelope_at(env, held)
    # Held: until the note-off, or until a decay to silence is past the floor.
    on_seconds = held
    fall = max(FLOOR_DB + gain_db, 0.0)  # dB of decay that reach the floor
    if sustain_db >= fall:
        on_seconds = min(held, r.delay + r.attack + hold + decay * fall / ENVELOPE_DB)
        level_off = _envelope_at(env, on_seconds)
    # Release: 96 dB per release time from the level at the note-off, until the floor.
    off_db = 20.0 * math.log10(max(level_off, 1e-9)) + gain_db
    release_seconds = r.release * max(FLOOR_DB + off_db, 0.0) / ENVELOPE_DB
    on = int(round(on_seconds * sr))
    length = on + int(math.ceil(release_seconds * sr))
    last = r.end - r.start - 1  # the last source position that can be read
    if not r.loop:  # a one-shot sample runs out
        length = min(length, int(last / step))
    elif r.release_to_end and length > on:  # mode 3: looped while held, then to the end
        length = min(length, on + max(int((last - _position_at(on, step, r)) / step), 0))
    pan = (r.pan + 0.5) * math.pi / 2  # constant power: cos / sin of a quarter turn
    gain = 10.0 ** (gain_db / 20.0)
    return {"first": int(round(note.start * sr)), "length": max(length, 0), "on": on,
            "step": step, "region": r, "env": env, "level_off": level_off,
            "release": r.release, "gains": (gain * math.cos(pan), gain * math.sin(pan)),
            "channel": note.channel, "cut": None}


def _position_at(frames, step, r):
    """The source position (from the sample's start) of a looping voice after `frames`."""
    pos = step * frames
    loop_start, loop_end = r.loop_start - r.start, r.loop_end - r.start
    if pos < loop_end:
        return pos
    return loop_start + (pos - loop_start) % (loop_end - loop_start)


def _cut_exclusive(voices, sr):
    """A voice whose region has an exclusive class stops (quickly) where a later note of
    the same class on the same channel starts, as an open hi-hat does under a closed one.
    All the voices of the earlier note stop (a note may play several layers)."""
    fade = int(_CUT_SECONDS * sr)
    sounding = {}  # (channel, class) -> the voices of the latest start
    for voice in sorted(voices, key=lambda v: v["first"]):
        cls = voice["region"].exclusive_class
        if not cls:
            continue
        group = (voice["channel"], cls)
        earlier = [v for v in sounding.get(group, []) if v["first"] < voice["first"]]
        for previous in earlier:
            keep = voice["first"] - previous["first"] + fade
            if keep < previous["length"]:
                previous["length"], previous["cut"] = keep, keep - fade
        same = [v for v in sounding.get(group, []) if v["first"] == voice["first"]]
        sounding[group] = same + [voice]


def _render_voice(v, samples, out, sr):
    """Adds one voice into `out` ([2, frames] float32)."""
    r = v["region"]
    first, step = v["first"], v["step"]
    length = min(v["length"], out.shape[1] - first)
    pos = np.arange(length, dtype=np.float64)
    pos *= step  # source position of each output frame, from the sample's start
    if r.loop:
        loop_start, loop_end = r.loop_start - r.start, r.loop_end - r.start
        stop = min(v["on"], length) if r.release_to_end else length
        wrap = min(max(int(math.ceil(loop_end / step)), 0), stop)  # first frame past the loop
        tail = pos[wrap:stop]
        tail -= loop_start
        span = loop_end - loop_start
        tail -= np.floor(tail * (1.0 / span)) * span  # = fmod, twice as fast
        tail += loop_start
        if stop < length:  # sample mode 3 after the note-off: on to the sample's end
            pos[stop:] += _position_at(stop, step, r) - stop * step
    source = samples[r.start:r.end]  # int16; at least 2 points (sf2 checks)
    np.clip(pos, 0.0, len(source) - 1.0, out=pos)  # float rounding never reads past it
    index = pos.astype(np.int64)
    np.minimum(index, len(source) - 2, out=index)
    frac = (pos - index).astype(np.float32)
    wave = source[index].astype(np.float32)
    rise = source[index + 1].astype(np.float32)
    rise -= wave
    rise *= frac
    wave += rise
    wave *= _envelope(v, length, sr)
    left, right = v["gains"]
    out[0, first:first + length] += wave * np.float32(left / 32768.0)
    out[1, first:first + length] += wave * np.float32(right / 32768.0)


def _envelope(v, length, sr):
    """The voice's amplitude envelope over `length` frames, float32, built a phase at a
    time (delay, attack, hold, decay to sustain, release)."""
    delay, attack, hold, decay, sustain_db = v["env"]
    on = min(v["on"], length)
    env = np.empty(length, np.float32)
    a, b, c = (min(int(round(x * sr)), on) for x in (delay, delay + attack,
                                                      delay + attack + hold))
    env[:a] = 0.0
    env[a:b] = np.arange(1, b - a + 1, dtype=np.float32) / np.float32(max(attack * sr, 1.0))
    env[b:c] = 1.0
    if c < on:  # decay in dB, then the sustain level
        d = min(c + int(math.ceil(decay * sustain_db / ENVELOPE_DB * sr)), on)
        since = np.arange(d - c, dtype=np.float32) / np.float32(sr)
        env[c:d] = 10.0 ** (since * np.float32(-ENVELOPE_DB / 20.0 / decay))
        env[d:on] = 10.0 ** (-sustain_db / 20.0)
    if on < length:
        since = np.arange(length - on, dtype=np.float32) / np.float32(sr)
        env[on:] = v["level_off"] * 10.0 ** (since * np.float32(-ENVELOPE_DB / 20.0 / v["release"]))
    fade = int(_CUT_SECONDS * sr)
    cut = v["cut"] if v["cut"] is not None else (length - fade if length < v["length"] else None)
    if cut is not None and 0 <= cut < length:  # a voice ended early fades, never clicks
        env[cut:] *= np.linspace(1.0, 0.0, length - cut, dtype=np.float32)
    return env


def _envelope_at(env, t):
    """The envelope's level (0..1) at `t` seconds after the note-on, while held."""
    delay, attack, hold, decay, sustain_db = env
    if t < delay:
        return 0.0
    if t < delay + attack:
        return (t - delay) / attack
    if t < delay + attack + hold:
        return 1.0
    return 10.0 ** (-min((t - delay - attack - hold) * ENVELOPE_DB / decay, sustain_db) / 20.0)


def _tc(timecents):
    return 2.0 ** (min(max(timecents, -12000.0), 8000.0) / 1200.0)
