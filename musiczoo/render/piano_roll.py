"""Piano-roll pictures of NoteSequences: pitch against time, bar lines, one colour per
track, drums as a grid of named pieces, and the primer (or any fixed part) shaded.

    piano_roll(sequence_or_midi_path, "out/song.png")        # or .svg for the web

Drawn with matplotlib's Agg/SVG back ends (no display, no browser). Pieces with many
notes are drawn as one raster of the roll rather than a rectangle per note, so the time
and memory a picture takes stay bounded whatever the file holds.
"""
import bisect
import io
import math
import pathlib

import numpy as np

from musiczoo import outputs
from musiczoo.controls.theory import DRUM_CLASSES
from musiczoo.pipelines.codecs.drums import DEFAULT_DRUM_TYPE_PITCHES

FORMATS = (".png", ".svg")
#: Above this many notes a track is drawn as a raster, not one rectangle per note.
MAX_VECTOR_NOTES = 20000
#: The longest piece drawn (a picture of more is unreadable anyway).
MAX_SECONDS = 60 * 60.0
#: Columns of the raster used for long or dense pieces.
RASTER_COLUMNS = 4000
#: Bar lines are drawn while there are at most this many bars (then every 4th, 16th...).
MAX_BAR_LINES = 400
DPI = 100
#: Track colours (colour-blind-safe Okabe-Ito first, then tab10's).
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442",
           "#000000", "#8c564b", "#7f7f7f", "#bcbd22", "#17becf")
DRUM_ROWS = tuple(name.replace("_", " ") for name in DRUM_CLASSES) + ("other",)
NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


class PianoRollError(ValueError):
    """A picture that cannot be made as asked (an unknown format, too long a piece)."""


def drum_row(pitch):
    """Row of a drum pitch in DRUM_ROWS (Magenta's nine drum classes, then "other")."""
    for row, pitches in enumerate(DEFAULT_DRUM_TYPE_PITCHES):
        if pitch in pitches:
            return row
    return len(DRUM_ROWS) - 1


def instrument_name(program):
    """General MIDI name of a program (0..127), e.g. 73 -> 'Flute'."""
    import pretty_midi
    return pretty_midi.program_to_instrument_name(int(program))


def note_name(pitch):
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def bar_times(sequence, end):
    """Start times (seconds) of the bars up to `end`, following the sequence's tempo and
    time-signature changes (120 qpm, 4/4 where it has none)."""
    tempos = sorted((t.time, t.qpm) for t in sequence.tempos if t.qpm > 0) or [(0.0, 120.0)]
    meters = sorted((t.time, t.numerator, t.denominator) for t in sequence.time_signatures
                    if t.numerator > 0 and t.denominator > 0) or [(0.0, 4, 4)]
    if tempos[0][0] > 0:
        tempos.insert(0, (0.0, 120.0))
    if meters[0][0] > 0:
        meters.insert(0, (0.0, 4, 4))

    starts = [start for start, _ in tempos]

    def qpm_at(time):
        return tempos[max(bisect.bisect_right(starts, time + 1e-9) - 1, 0)][1]

    def next_change(time):
        k = bisect.bisect_right(starts, time + 1e-9)
        return starts[k] if k < len(starts) else None

    bars, time, meter_index = [], 0.0, 0
    while time <= end + 1e-6 and len(bars) < 100000:
        while meter_index + 1 < len(meters) and meters[meter_index + 1][0] <= time + 1e-6:
            meter_index += 1
        bars.append(time)
        _, numerator, denominator = meters[meter_index]
        quarters = numerator * 4.0 / denominator
        # Walk the bar through tempo changes inside it.
        remaining, t = quarters, time
        while remaining > 1e-9:
            qpm = qpm_at(t)
            following = next_change(t)
            span = remaining * 60.0 / qpm
            if following is not None and following < t + span:
                remaining -= (following - t) * qpm / 60.0
                t = following
            else:
                t += span
                remaining = 0.0
        next_meter = meters[meter_index + 1][0] if meter_index + 1 < len(meters) else None
        time = min(t, next_meter) if next_meter is not None and next_meter > time + 1e-6 \
            else t
    return bars


def tracks(sequence):
    """[(label, is_drum, notes)] in file order: one per (instrument, program, is_drum)."""
    groups = {}
    for note in sequence.notes:
        key = (note.instrument, note.program if not note.is_drum else -1, note.is_drum)
        groups.setdefault(key, []).append(note)
    found = []
    for (instrument, program, is_drum), notes in sorted(groups.items(),
                                                        key=lambda kv: (kv[0][2], kv[0][:2])):
        label = "Drums" if is_drum else instrument_name(program)
        found.append((label, is_drum, notes))
    return found


def piano_roll(sequence_or_path, path, marked_until=None, title=None, overwrite=False,
               marked_label="primer"):
    """Draws the piece (a NoteSequence, or the path or bytes of a MIDI file) to `path`
    (.png or .svg), atomically; the span before `marked_until` seconds is shaded and
    labelled `marked_label`. An existing file is replaced only with `overwrite`. Returns
    a dict: path, format, notes, tracks, bars, seconds, drawn ("vector" or "raster")."""
    from musiczoo.render.audio import as_sequence
    path = pathlib.Path(path).expanduser()
    kind = path.suffix.lower()
    if kind not in FORMATS:
        raise PianoRollError(f"{path}: piano rolls are written as {' or '.join(FORMATS)}, "
                             f"not {kind or 'a file without an extension'!r}")
    outputs.check_target(path, overwrite)
    sequence = as_sequence(sequence_or_path)
    data, info = draw(sequence, kind[1:], marked_until=marked_until, title=title,
                      marked_label=marked_label)
    outputs.output_dir(path.parent)
    outputs.write_bytes(path, data, overwrite=overwrite)
    return {**info, "path": str(path), "format": kind[1:]}


def draw(sequence, fmt="png", *, marked_until=None, title=None, marked_label="primer"):
    """(bytes of the picture, info) for a NoteSequence; see piano_roll."""
    import matplotlib
    import matplotlib.colors
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import PolyCollection
    from matplotlib.figure import Figure

    end = max([sequence.total_time] + [note.end_time for note in sequence.notes] + [0.0])
    if not math.isfinite(end) or end > MAX_SECONDS:
        raise PianoRollError(f"{end:,.0f} s of music; piano rolls are drawn for at most "
                             f"{MAX_SECONDS:,.0f} s")
    end = max(end, 1.0)
    found = tracks(sequence)
    pitched = [t for t in found if not t[1]]
    drums = [t for t in found if t[1]]
    pitches = [n.pitch for _, _, notes in pitched for n in notes]
    low, high = (min(pitches) - 2, max(pitches) + 2) if pitches else (58, 72)
    if high - low < 14:
        middle = (high + low) // 2
        low, high = middle - 7, middle + 7
    width = float(np.clip(3.0 + end * 0.4, 8.0, 24.0))
    heights = []
    if pitched or not drums:
        heights.append(float(np.clip((high - low) * 0.1, 3.0, 7.0)))
    if drums:
        heights.append(len(DRUM_ROWS) * 0.22 + 0.4)
    figure = Figure(figsize=(width, sum(heights) + 0.9), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(heights), 1, sharex=True, squeeze=False,
                           gridspec_kw={"height_ratios": heights})[:, 0]
    bars = bar_times(sequence, end)
    every = 1
    while len(bars) / every > MAX_BAR_LINES:
        every *= 4
    drawn = "vector"
    legend = []
    colour_of = {index: COLOURS[index % len(COLOURS)] for index in range(len(found))}

    qpm = sequence.tempos[0].qpm if sequence.tempos and sequence.tempos[0].qpm > 0 else 120.0
    hit = 0.7 * 15.0 / qpm  # drums: a hit is drawn 70% of a 16th note wide, however long

    def draw_notes(ax, notes, rows, colour, height=0.8, drums=False):
        nonlocal drawn
        starts = np.array([n.start_time for n in notes], np.float64)
        ends = np.array([max(n.end_time, n.start_time + 0.03) for n in notes], np.float64)
        if drums:
            ends = starts + hit
        rows = np.asarray(rows, np.float64)
        velocity = np.array([n.velocity for n in notes], np.float64)
        alpha = 0.45 + 0.55 * np.clip(velocity / 127.0, 0.0, 1.0)
        if len(notes) > MAX_VECTOR_NOTES:
            drawn = "raster"
            return raster(ax, starts, ends, rows, colour)
        half = height / 2
        boxes = np.stack([np.stack([starts, rows - half], 1), np.stack([ends, rows - half], 1),
                          np.stack([ends, rows + half], 1), np.stack([starts, rows + half], 1)],
                         1)
        rgba = np.tile(np.asarray(matplotlib.colors.to_rgba(colour)), (len(notes), 1))
        rgba[:, 3] = alpha
        ax.add_collection(PolyCollection(boxes, facecolors=rgba, edgecolors="none"))

    def raster(ax, starts, ends, rows, colour):
        lo, hi = int(rows.min()), int(rows.max())
        scale = RASTER_COLUMNS / end
        first = np.clip((starts * scale).astype(np.int64), 0, RASTER_COLUMNS - 1)
        last = np.clip((ends * scale).astype(np.int64), 0, RASTER_COLUMNS - 1)
        # Each note covers first..last: mark its ends in a difference array, then sum.
        marks = np.zeros((hi - lo + 1, RASTER_COLUMNS + 1), np.int32)
        np.add.at(marks, (rows.astype(np.int64) - lo, first), 1)
        np.add.at(marks, (rows.astype(np.int64) - lo, last + 1), -1)
        image = (np.cumsum(marks, axis=1)[:, :RASTER_COLUMNS] > 0).astype(np.float32)
        rgba = np.zeros(image.shape + (4,), np.float32)
        rgba[..., :3] = matplotlib.colors.to_rgb(colour)
        rgba[..., 3] = image
        ax.imshow(rgba, aspect="auto", origin="lower", interpolation="nearest",
                  extent=(0, end, lo - 0.5, hi + 0.5))

    position = 0
    if pitched or not drums:
        ax = axes[position]
        position += 1
        for index, (label, _, notes) in enumerate(found):
            if found[index][1]:
                continue
            draw_notes(ax, notes, [n.pitch for n in notes], colour_of[index])
            legend.append((label, colour_of[index]))
        ax.set_ylim(low - 0.5, high + 0.5)
        cs = [p for p in range(low, high + 1) if p % 12 == 0]
        ax.set_yticks(cs, [note_name(p) for p in cs])
        for p in range(low, high + 1):
            if p % 12 in (1, 3, 6, 8, 10):
                ax.axhspan(p - 0.5, p + 0.5, color="#f2f2f2", zorder=0, lw=0)
        ax.set_ylabel("pitch")
        if not pitches:
            ax.text(0.5, 0.5, "no notes", transform=ax.transAxes, ha="center", va="center",
                    color="#888888")
    if drums:
        ax = axes[position]
        for index, (label, _, notes) in enumerate(found):
            if not found[index][1]:
                continue
            draw_notes(ax, notes, [drum_row(n.pitch) for n in notes], colour_of[index],
                       height=0.7, drums=True)
            legend.append((label, colour_of[index]))
        ax.set_ylim(-0.6, len(DRUM_ROWS) - 0.4)
        ax.set_yticks(range(len(DRUM_ROWS)), DRUM_ROWS, fontsize=8)
        for row in range(len(DRUM_ROWS)):
            if row % 2:
                ax.axhspan(row - 0.5, row + 0.5, color="#f5f5f5", zorder=0, lw=0)
    for ax in axes:
        ax.set_xlim(0, end)
        for number, start in enumerate(bars):
            if number % every == 0:
                ax.axvline(start, color="#999999", lw=0.6, zorder=1)
        if marked_until:
            ax.axvspan(0, min(float(marked_until), end), color="#555555", alpha=0.12,
                       zorder=0, lw=0)
    if marked_until:
        axes[0].text(min(float(marked_until), end) / 2, 0.97, marked_label,
                     transform=axes[0].get_xaxis_transform(), ha="center", va="top",
                     fontsize=8, color="#333333", zorder=3)
    label_every = max(every, 4 if len(bars) > 32 else 1)
    numbered = [(number, start) for number, start in enumerate(bars)
                if number % label_every == 0]
    axes[-1].set_xticks([start for _, start in numbered],
                        [str(number + 1) for number, _ in numbered], fontsize=8)
    axes[-1].set_xlabel("bar")
    heading = title if title is not None else sequence.sequence_metadata.title
    if heading:
        axes[0].set_title(heading, fontsize=10, loc="left")
    if legend:
        from matplotlib.patches import Patch
        axes[0].legend(handles=[Patch(color=c, label=l) for l, c in legend], fontsize=8,
                       loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=min(len(legend), 4),
                       frameon=False, borderaxespad=0.2)
    figure.tight_layout()
    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "musiczoo"}):  # the same ids every time
        figure.savefig(buffer, format=fmt, dpi=DPI, metadata=_metadata(fmt))
    info = {"notes": len(sequence.notes), "tracks": [label for label, _, _ in found],
            "bars": len(bars), "seconds": round(end, 3), "drawn": drawn,
            "colours": {label: colour_of[k] for k, (label, _, _) in enumerate(found)},
            "axes": [_layout(ax, figure, kind) for ax, kind in zip(
                axes, (["pitch"] if pitched or not drums else []) + (["drums"] if drums
                                                                     else []))]}
    return buffer.getvalue(), info


def _layout(ax, figure, kind):
    """Where an axes sits in the PNG (pixels from the top left) and what it shows: lets a
    caller (or a test) find the pixel of a time and a pitch or drum row."""
    x0, y0, x1, y1 = ax.get_window_extent().extents
    height = figure.bbox.height
    return {"kind": kind, "box": [x0, height - y1, x1, height - y0],
            "xlim": list(ax.get_xlim()), "ylim": list(ax.get_ylim())}


def _metadata(fmt):
    # No dates or versions in the file: the same piece gives the same bytes.
    return {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
