"""The mma_grooves corpus: every drum groove in Debian's `mma` library, rendered to MIDI once.

Building needs the `mma` command (MMA, Musical MIDI Accompaniment); reading the built
corpus does not. It lives in data_dir()/mma_grooves.
"""
import concurrent.futures
import json
import logging
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import time

from musiczoo.pipelines.readers.cache import built_corpus_dir, data_dir
from musiczoo.pipelines.readers.files import content_key, iter_music_files, read_files
from musiczoo.pipelines.readers.midi import midi_bytes_to_sequence
from musiczoo.pipelines.stats import Stats
from musiczoo.pipelines.writers import write_midi
from musiczoo.progress import Progress

logger = logging.getLogger(__name__)

MMA_BUILD_COMMAND = ("apt-get install -y mma && python -c 'from musiczoo.pipelines.readers.mma "
                     "import build_mma_grooves; build_mma_grooves()'")
MMA_LIBRARY_DIRS = ("/usr/share/mma/lib", "/usr/local/share/mma/lib")
MIN_GROOVE_BARS = 8
_DEFGROOVE = re.compile(r"^\s*defgroove\s+(\S+)", re.IGNORECASE | re.MULTILINE)


def list_mma_grooves(library_dir):
    """[(library file, groove name)] for every DefGroove in MMA's library, sorted."""
    grooves = []
    for path in sorted(pathlib.Path(library_dir).rglob("*.mma")):
        seen = set()  # MMA groove names ignore case; a file may redefine one
        for name in _DEFGROOVE.findall(path.read_text(encoding="latin-1")):
            if name.lower() not in seen:
                seen.add(name.lower())
                grooves.append((str(path), name))
    return grooves


def _run_mma(mma, script, workdir, name, *options):
    script_path = pathlib.Path(workdir) / f"{name}.mma"
    script_path.write_text(script)
    return subprocess.run([mma, "-w", *options, str(script_path)], capture_output=True,
                          text=True, timeout=120, cwd=workdir)


def _groove_shapes(mma, library_file, names, workdir):
    # {groove: (bars in its pattern, time signature)}, from one dry run of MMA per file.
    script = f"Use {library_file}\n" + "".join(
        f"Groove {n}\nPrint GROOVE {n} $_SeqSize $_TimeSig\n" for n in names)
    lines = _run_mma(mma, script, workdir, "shapes", "-n").stdout.splitlines()
    return {fields[1].lower(): (int(fields[2]), fields[3]) for fields in
            (line.split() for line in lines if line.startswith("GROOVE "))}


def _render_groove(mma, job, workdir):
    """(MIDI bytes or None when no drums play, error message or None) for one groove."""
    # 'z' silences the chord-based tracks and leaves the drums playing; a fixed RndSeed
    # makes MMA's humanising randomness (timing, velocity) the same on every build.
    script = f"RndSeed 1\nUse {job['library_file']}\nGroove {job['groove']}\n" + "".join(
        f"{bar} z\n" for bar in range(1, job["bars"] + 1))
    name = re.sub(r"[^A-Za-z0-9_+-]", "_", job["file"])
    midi = pathlib.Path(workdir) / f"{name}.mid"
    result = _run_mma(mma, script, workdir, name, "-f", str(midi))
    if "No data created" in result.stdout:
        return None, None  # a groove without drums: nothing plays over 'z'
    if result.returncode != 0 or not midi.exists():
        return None, ((result.stdout + result.stderr).strip().splitlines() or ["failed"])[-1]
    return midi.read_bytes(), None


def _drums_only(midi, name):
    sequence = midi_bytes_to_sequence(midi, name)
    drums = [n for n in sequence.notes if n.is_drum]
    del sequence.notes[:]
    sequence.notes.extend(drums)
    return sequence if drums else None


def build_mma_grooves(output_dir=None, mma="mma", library_dir=None, workers=None,
                      progress=True):
    """Renders every groove in MMA's library to a drums-only MIDI file; returns the Stats.

    Needs the `mma` command (Debian/Ubuntu: `apt-get install -y mma`). Each groove plays
    for at least MIN_GROOVE_BARS bars, rounded up to whole repeats of its pattern, at
    MMA's default 120 qpm. Only drum notes are kept; grooves with no drums, or with the
    same drums as an earlier groove (e.g. '50sRockSus' adds strings to '50sRock'), are
    skipped and counted. Output: <output_dir>/<library>/<style>/<groove>.mid plus
    manifest.json, by default data_dir()/mma_grooves. The MIDI files are GPL-2+ like MMA.
    """
    mma_path = shutil.which(mma)
    if mma_path is None:
        raise FileNotFoundError(f"the {mma!r} command is not installed; "
                                f"install it with: apt-get install -y mma")
    library_dir = pathlib.Path(library_dir or next(
        (d for d in MMA_LIBRARY_DIRS if os.path.isdir(d)), MMA_LIBRARY_DIRS[0]))
    if not library_dir.is_dir():
        raise FileNotFoundError(f"{library_dir}: MMA's groove library is not there; "
                                f"pass library_dir=")
    output_dir = pathlib.Path(output_dir or data_dir() / "mma_grooves")
    stats, start, seen, written = Stats(), time.monotonic(), set(), []
    grooves = list_mma_grooves(library_dir)
    with tempfile.TemporaryDirectory() as workdir:
        jobs = []
        for library_file in sorted({file for file, _ in grooves}):
            names = [name for file, name in grooves if file == library_file]
            shapes = _groove_shapes(mma_path, library_file, names, workdir)
            style = os.path.relpath(os.path.splitext(library_file)[0], library_dir)
            for name in names:
                pattern_bars, time_signature = shapes.get(name.lower(), (1, "?"))
                jobs.append({"file": os.path.join(style, name + ".mid"), "groove": name,
                             "library_file": library_file, "time_signature": time_signature,
                             "bars": pattern_bars * -(-MIN_GROOVE_BARS // pattern_bars)})
        meter = Progress("rendering MMA grooves", total=len(jobs), unit="grooves",
                         enabled=progress)
        with concurrent.futures.ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
            renders = pool.map(lambda job: _render_groove(mma_path, job, workdir), jobs)
            for job, (midi, error) in zip(jobs, renders):
                meter.update()
                if error:
                    stats.count("grooves_failed_mma_error")
                    logger.warning("%s: groove %s failed: %s", job["library_file"],
                                   job["groove"], error)
                    continue
                sequence = _drums_only(midi, job["file"]) if midi else None
                if sequence is None:
                    stats.count("grooves_skipped_no_drums")
                    continue
                key = content_key(sequence)
                if key in seen:
                    stats.count("grooves_skipped_duplicate")
                    continue
                seen.add(key)
                write_midi(sequence, output_dir / job["file"])
                written.append({k: v for k, v in job.items() if k != "library_file"})
                stats.count("grooves_written")
        meter.finish()
    version = subprocess.run([mma_path, "-v"], capture_output=True, text=True).stdout.split()
    manifest = {"source": f"MMA {version[-1] if version else '?'} groove library {library_dir}",
                "licence": "GPL-2+ (MMA by Bob van der Poel; the rendered MIDI keeps it)",
                "grooves_defined": len(grooves), "seconds": round(time.monotonic() - start, 1),
                "stats": stats.as_dict()["counts"], "grooves": written}
    (output_dir / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return stats


def mma_grooves_dir():
    """The built mma_grooves folder; FileNotFoundError with the build command if missing."""
    return built_corpus_dir("mma_grooves", MMA_BUILD_COMMAND, "a few minutes")


def mma_grooves(stats=None):
    """Yields the rendered MMA drum grooves (title = groove name, genre = library/style)."""
    folder = mma_grooves_dir()
    for sequence in read_files(iter_music_files(folder), stats, progress=False,
                               root_dir=folder):
        sequence.collection_name = "mma_grooves"
        sequence.sequence_metadata.title = os.path.splitext(os.path.basename(sequence.filename))[0]
        sequence.sequence_metadata.genre.append(os.path.dirname(sequence.filename))
        yield sequence
