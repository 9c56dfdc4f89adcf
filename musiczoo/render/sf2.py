"""SoundFont 2 files, read into what a sampler needs: the sample data and, per preset,
a flat list of regions (key and velocity range, sample, tuning, envelope, level, pan).

A SoundFont is a RIFF file: `sdta/smpl` holds every sample as 16-bit mono PCM, and `pdta`
holds nine tables (phdr, pbag, pmod, pgen, inst, ibag, imod, igen, shdr). A preset's zones
point at instruments; an instrument's zones point at samples. Instrument generators are
absolute values (a global zone's values are defaults for the others); preset generators
are offsets added on top, and key and velocity ranges intersect. Here each preset zone x
instrument zone pair becomes one `Region` with those rules already applied, so a sampler
only matches (key, velocity) and plays.

The file comes from disk and may be broken or hostile: sizes are capped, every table
index is checked before it is used, and any structural fault is a ValueError naming the
file. Modulators (pmod/imod) are not read; the SoundFont's default velocity curve is
applied by the sampler instead.
"""
import dataclasses
import os
import struct
import threading

import numpy as np

#: Largest .sf2 read (FluidR3_GM.sf2 is 148 MB).
MAX_FILE_BYTES = 1 << 30
#: Largest record count in one pdta table, and regions in the whole file (FluidR3_GM: ~4,000
#: regions); a file past these would cost minutes of parsing, not make better music.
MAX_RECORDS = 1_000_000
MAX_REGIONS = 200_000

# Generator numbers (SoundFont 2.04, section 8.1.2).
START_OFS, END_OFS, LOOP_START_OFS, LOOP_END_OFS, START_COARSE = 0, 1, 2, 3, 4
END_COARSE, PAN, DELAY, ATTACK, HOLD, DECAY, SUSTAIN, RELEASE = 12, 17, 33, 34, 35, 36, 37, 38
KEY_TO_HOLD, KEY_TO_DECAY, INSTRUMENT, KEY_RANGE, VEL_RANGE = 39, 40, 41, 43, 44
LOOP_START_COARSE, ATTENUATION, LOOP_END_COARSE, COARSE_TUNE, FINE_TUNE = 45, 48, 50, 51, 52
SAMPLE_ID, SAMPLE_MODES, SCALE_TUNING, EXCLUSIVE_CLASS, ROOT_KEY = 53, 54, 56, 57, 58

_TIMECENTS_DEFAULT = -12000  # 1 ms
_DEFAULTS = {DELAY: _TIMECENTS_DEFAULT, ATTACK: _TIMECENTS_DEFAULT, HOLD: _TIMECENTS_DEFAULT,
             DECAY: _TIMECENTS_DEFAULT, RELEASE: _TIMECENTS_DEFAULT, SCALE_TUNING: 100,
             ROOT_KEY: -1}
# Generators that only an instrument zone may set; in a preset zone they are ignored.
_SAMPLE_ONLY = {START_OFS, END_OFS, LOOP_START_OFS, LOOP_END_OFS, START_COARSE, END_COARSE,
                LOOP_START_COARSE, LOOP_END_COARSE, 46, 47, SAMPLE_MODES, EXCLUSIVE_CLASS,
                ROOT_KEY}
#: EMU hardware, and so FluidSynth and the banks made on them, apply initialAttenuation at
#: 0.4 of its nominal centibels; the sampler does too, so instruments balance as meant.
EMU_ATTENUATION_FACTOR = 0.4

_PHDR = np.dtype([("name", "S20"), ("program", "<u2"), ("bank", "<u2"), ("bag", "<u2"),
                  ("library", "<u4"), ("genre", "<u4"), ("morphology", "<u4")])
_BAG = np.dtype([("gen", "<u2"), ("mod", "<u2")])
_GEN = np.dtype([("oper", "<u2"), ("amount", "<i2")])
_INST = np.dtype([("name", "S20"), ("bag", "<u2")])
_SHDR = np.dtype([("name", "S20"), ("start", "<u4"), ("end", "<u4"), ("loop_start", "<u4"),
                  ("loop_end", "<u4"), ("rate", "<u4"), ("pitch", "u1"), ("correction", "i1"),
                  ("link", "<u2"), ("type", "<u2")])
_TABLES = {b"phdr": _PHDR, b"pbag": _BAG, b"pgen": _GEN, b"inst": _INST, b"ibag": _BAG,
           b"igen": _GEN, b"shdr": _SHDR}


@dataclasses.dataclass(frozen=True)
class Region:
    """One playable zone: a sample over a key and velocity range, with its settings.

    Sample points index `SoundFont.samples`; `loop` is False when the zone does not loop
    (or its loop points are unusable). Times are seconds, levels centibels."""
    key_lo: int
    key_hi: int
    vel_lo: int
    vel_hi: int
    start: int
    end: int
    loop_start: int
    loop_end: int
    loop: bool
    release_to_end: bool  # sample mode 3: loop while held, then play on to the end
    sample_rate: int
    root_key: int
    tune_cents: float  # coarse, fine and the sample's own pitch correction
    scale_tuning: float  # cents per key (100: a semitone)
    attenuation_cb: float
    pan: float  # -0.5 (left) .. 0.5 (right)
    delay: float
    attack: float
    hold_tc: float  # hold and decay stay timecents: they scale with the key
    decay_tc: float
    key_to_hold: float
    key_to_decay: float
    sustain_cb: float
    release: float
    exclusive_class: int
    sample_name: str


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    bank: int
    program: int
    regions: tuple


@dataclasses.dataclass(frozen=True)
class SoundFont:
    path: str
    name: str
    samples: np.ndarray  # int16, every sample of the file end to end
    presets: dict  # (bank, program) -> Preset

    def preset(self, bank, program):
        return self.presets.get((bank, program))


def default_path():
    """The small General MIDI SoundFont inside pretty_midi's wheel (TimGM6mb.sf2)."""
    import pretty_midi
    return os.path.join(os.path.dirname(pretty_midi.__file__), "TimGM6mb.sf2")


_CACHE_SIZE = 4
_cache = {}
_cache_lock = threading.Lock()


def load(path=None):
    """The SoundFont at `path` (default: `default_path()`), parsed once per process and
    file version (the cache key holds its size and modification time)."""
    path = os.path.realpath(os.fspath(path or default_path()))
    try:
        info = os.stat(path)
    except OSError as error:
        raise ValueError(f"{path}: cannot read the SoundFont: {error.strerror or error}") from None
    key = (path, info.st_size, info.st_mtime_ns)
    with _cache_lock:
        if key not in _cache:
            if len(_cache) >= _CACHE_SIZE:  # a big SoundFont is 100s of MB: keep a few
                del _cache[next(iter(_cache))]
            _cache[key] = parse(path)
        return _cache[key]


def parse(path):
    """Reads and checks the SoundFont 2 file at `path`; ValueError if it is not one."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise ValueError(f"{path}: cannot read the SoundFont: {error.strerror or error}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"{path}: SoundFont larger than {MAX_FILE_BYTES >> 20} MB, the limit")
    return _Parser(path, data).soundfont()


class _Parser:
    def __init__(self, path, data):
        self.path = path
        self.data = data

    def fail(self, problem):
        return ValueError(f"{self.path}: not a usable SoundFont 2 file: {problem}")

    def chunks(self, start, end):
        """(id, body offset, body size) of the RIFF chunks in data[start:end]."""
        pos = start
        while pos + 8 <= end:
            cid, size = struct.unpack_from("<4sI", self.data, pos)
            if pos + 8 + size > end:
                raise self.fail(f"chunk {cid!r} at byte {pos} runs past its container")
            yield cid, pos + 8, size
            pos += 8 + size + (size & 1)

    def soundfont(self):
        data = self.data
        if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"sfbk":
            raise self.fail("no RIFF 'sfbk' header")
        riff_end = min(len(data), 8 + struct.unpack_from("<I", data, 4)[0])
        lists = {}
        for cid, body, size in self.chunks(12, riff_end):
            if cid == b"LIST" and size >= 4:
                lists.setdefault(data[body:body + 4], (body + 4, body + size))
        for kind in (b"sdta", b"pdta"):
            if kind not in lists:
                raise self.fail(f"no LIST {kind.decode()} chunk")
        sub = {cid: (body, size) for cid, body, size in self.chunks(*lists[b"sdta"])}
        if b"smpl" not in sub:
            raise self.fail("no sample data (sdta/smpl)")
        body, size = sub[b"smpl"]
        samples = np.frombuffer(data, dtype="<i2", count=size // 2, offset=body)
        tables = {}
        for cid, body, size in self.chunks(*lists[b"pdta"]):
            dtype = _TABLES.get(cid)
            if dtype is None or cid in tables:
                continue
            if size % dtype.itemsize:
                raise self.fail(f"table {cid.decode()} is {size} bytes, not whole "
                                f"{dtype.itemsize}-byte records")
            if size // dtype.itemsize > MAX_RECORDS:
                raise self.fail(f"table {cid.decode()} has over {MAX_RECORDS:,} records")
            tables[cid] = np.frombuffer(data, dtype=dtype, count=size // dtype.itemsize,
                                        offset=body)
        missing = [cid.decode() for cid in _TABLES if cid not in tables]
        if missing:
            raise self.fail("missing table(s) " + ", ".join(missing))
        name = self.info_name(lists.get(b"INFO"))
        return SoundFont(self.path, name, samples, self.presets(tables, len(samples)))

    def info_name(self, span):
        if span:
            for cid, body, size in self.chunks(*span):
                if cid == b"INAM":
                    return _text(self.data[body:body + min(size, 256)])
        return os.path.basename(self.path)

    def zones(self, headers, bags, gens, what, terminal):
        """Per header (all but the terminal record): (global zone or None, [zones]), each
        zone a {generator: amount} dict ending with its `terminal` generator."""
        if len(headers) < 2 or len(bags) < 1 or len(gens) < 1:
            raise self.fail(f"{what} tables are empty (no terminal records)")
        bag_index = headers["bag"].astype(np.int64)
        gen_index = bags["gen"].astype(np.int64)
        for index, limit, label in ((bag_index, len(bags) - 1, f"{what} zone"),
                                    (gen_index, len(gens), f"{what} generator")):
            if (np.diff(index) < 0).any() or index[-1] > limit:
                raise self.fail(f"{label} indices are out of order or out of range")
        opers = gens["oper"].tolist()
        amounts = gens["amount"].tolist()
        result = []
        for i in range(len(headers) - 1):
            zones = []
            for bag in range(bag_index[i], bag_index[i + 1]):
                zone = {}
                for g in range(gen_index[bag], gen_index[bag + 1]):
                    zone[opers[g]] = amounts[g]
                    if opers[g] == terminal:
                        break  # generators after the terminal one are to be ignored
                zones.append(zone)
            glob = zones[0] if zones and terminal not in zones[0] else None
            result.append((glob, [z for z in zones if terminal in z]))
        return result

    def presets(self, t, sample_count):
        instruments = self.zones(t[b"inst"], t[b"ibag"], t[b"igen"], "instrument", SAMPLE_ID)
        preset_zones = self.zones(t[b"phdr"], t[b"pbag"], t[b"pgen"], "preset", INSTRUMENT)
        shdr = t[b"shdr"]
        if len(shdr) < 1:
            raise self.fail("no sample headers")
        presets, total = {}, 0
        for header, (pglob, pzones) in zip(t[b"phdr"][:-1], preset_zones):
            regions = []
            for pzone in pzones:
                merged = {**(pglob or {}), **pzone}
                inst = pzone[INSTRUMENT] & 0xFFFF
                if inst >= len(instruments):
                    raise self.fail(f"preset {_text(header['name'])!r} uses instrument "
                                    f"{inst}, of {len(instruments)}")
                iglob, izones = instruments[inst]
                for izone in izones:
                    region = self.region(merged, {**(iglob or {}), **izone}, shdr, sample_count)
                    if region is not None:
                        regions.append(region)
            total += len(regions)
            if total > MAX_REGIONS:
                raise self.fail(f"over {MAX_REGIONS:,} regions")
            key = (int(header["bank"]), int(header["program"]))
            if key not in presets:  # the first of duplicate presets wins
                presets[key] = Preset(_text(header["name"]), key[0], key[1], tuple(regions))
        return presets

    def region(self, pgens, igens, shdr, sample_count):
        """The Region of one preset zone over one instrument zone, or None if it can never
        sound (empty ranges, a ROM sample, a sample with no data)."""
        sid = igens[SAMPLE_ID] & 0xFFFF
        if sid >= len(shdr) - 1:  # the last record is the terminal one, no sample
            raise self.fail(f"an instrument zone uses sample {sid}, of {len(shdr) - 1}")
        s = shdr[sid]
        if int(s["type"]) & 0x8000:  # a ROM sample: its data is not in the file
            return None
        ranges = []
        for gen in (KEY_RANGE, VEL_RANGE):
            lo, hi = 0, 127
            for gens in (igens, pgens):
                if gen in gens:
                    raw = gens[gen] & 0xFFFF
                    lo, hi = max(lo, raw & 0xFF), min(hi, raw >> 8)
            if lo > hi:
                return None
            ranges.append((lo, hi))

        def value(gen):
            base = igens.get(gen, _DEFAULTS.get(gen, 0))
            return base if gen in _SAMPLE_ONLY else base + pgens.get(gen, 0)

        start = int(s["start"]) + value(START_OFS) + 32768 * value(START_COARSE)
        end = int(s["end"]) + value(END_OFS) + 32768 * value(END_COARSE)
        loop_start = int(s["loop_start"]) + value(LOOP_START_OFS) + 32768 * value(LOOP_START_COARSE)
        loop_end = int(s["loop_end"]) + value(LOOP_END_OFS) + 32768 * value(LOOP_END_COARSE)
        start, end = max(start, 0), min(end, sample_count)
        if end - start < 2:
            return None
        mode = value(SAMPLE_MODES) & 3
        loop = mode in (1, 3) and start <= loop_start and loop_start + 2 <= loop_end <= end
        rate = int(s["rate"])
        if not 400 <= rate <= 384000:
            raise self.fail(f"sample {_text(s['name'])!r} has a sample rate of {rate} Hz")
        root = value(ROOT_KEY)
        if not 0 <= root <= 127:
            root = int(s["pitch"]) if int(s["pitch"]) <= 127 else 60
        return Region(
            key_lo=ranges[0][0], key_hi=ranges[0][1], vel_lo=ranges[1][0], vel_hi=ranges[1][1],
            start=start, end=end, loop_start=loop_start if loop else start,
            loop_end=loop_end if loop else end, loop=loop, release_to_end=loop and mode == 3,
            sample_rate=rate, root_key=root,
            tune_cents=100.0 * value(COARSE_TUNE) + value(FINE_TUNE) + int(s["correction"]),
            scale_tuning=float(value(SCALE_TUNING)),
            attenuation_cb=EMU_ATTENUATION_FACTOR * _clip(value(ATTENUATION), 0, 1440),
            pan=_clip(value(PAN), -500, 500) / 1000.0,
            delay=_seconds(value(DELAY), 5000), attack=_seconds(value(ATTACK), 8000),
            hold_tc=float(value(HOLD)), decay_tc=float(value(DECAY)),
            key_to_hold=float(value(KEY_TO_HOLD)), key_to_decay=float(value(KEY_TO_DECAY)),
            sustain_cb=_clip(value(SUSTAIN), 0, 1440), release=_seconds(value(RELEASE), 8000),
            exclusive_class=int(value(EXCLUSIVE_CLASS)), sample_name=_text(s["name"]))


def timecents_to_seconds(tc, high):
    """Seconds for a time in timecents (1200 per octave of time), clamped as the spec says."""
    return 2.0 ** (_clip(tc, -12000, high) / 1200.0)


_seconds = timecents_to_seconds


def _clip(x, lo, hi):
    return float(min(max(x, lo), hi))


def _text(raw):
    return bytes(raw).split(b"\0", 1)[0].decode("latin-1").strip()
