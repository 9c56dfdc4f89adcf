"""Transforms over sequences: each returns zero or more outputs and counts what it drops.

A transform is any callable `(NoteArrays, Stats) -> list[NoteArrays]`; `compose` chains
them. They run before quantization (on times in seconds), so augmentation and splitting
happen where note_seq's did. Train/eval partition is by source id, before any
augmentation, so variants of one piece never land on both sides.
"""
import dataclasses
import hashlib

import numpy as np

from musiczoo.pipelines import notearrays


def compose(*transforms):
    """One transform that applies `transforms` in order, fanning out their outputs."""
    def run(arrays, stats):
        items = [arrays]
        for transform in transforms:
            items = [out for item in items for out in transform(item, stats)]
        return items
    return run


def split_on_time_changes(arrays, stats):
    return notearrays.split_on_time_changes(arrays, stats)


def split_by_length(max_seconds):
    """Cuts a sequence into pieces of at most `max_seconds` (note_seq's split_note_sequence
    with hop = length): notes are cut at piece boundaries."""
    if max_seconds <= 0:
        raise ValueError(f"split length must be positive, got {max_seconds}")

    def run(arrays, stats):
        if arrays.total_time <= max_seconds:
            return [arrays]
        bounds = np.arange(0.0, arrays.total_time, max_seconds)
        pieces = []
        for begin in bounds:
            end = min(begin + max_seconds, arrays.total_time)
            index = np.flatnonzero((arrays.start_time >= begin) & (arrays.start_time < end))
            new_end = np.minimum(arrays.end_time[index], end) - begin
            pieces.append(arrays.select(
                index, start_time=arrays.start_time[index] - begin, end_time=new_end,
                total_time=float(new_end.max()) if len(index) else 0.0,
                time_signatures=_events_from(arrays.time_signatures, begin, end),
                tempos=_events_from(arrays.tempos, begin, end),
                start_time_offset=arrays.start_time_offset + float(begin)))
        stats.count("sequences_split_by_length", len(pieces) - 1)
        return pieces
    return run


def _events_from(events, begin, end):
    """State events of [begin, end): the one in force at `begin` (moved to 0) and those inside."""
    before = [e for e in events if e[0] <= begin]
    inside = [(e[0] - begin,) + tuple(e[1:]) for e in events if begin < e[0] < end]
    carried = [(0.0,) + tuple(max(before, key=lambda e: e[0])[1:])] if before else []
    return carried + inside


def transpose_augment(semitones, min_pitch=0, max_pitch=127):
    """One copy per transposition in `semitones` (0 keeps the original); copies that would
    leave [min_pitch, max_pitch] are dropped and counted."""
    semitones = list(semitones)

    def run(arrays, stats):
        out = []
        for amount in semitones:
            moved = notearrays.transpose(arrays, amount, min_pitch, max_pitch)
            if moved is None:
                stats.count("transpositions_out_of_range")
                continue
            if amount:
                moved = dataclasses.replace(moved, id=f"{arrays.id}#transpose{amount:+d}")
            out.append(moved)
        return out
    return run


def stretch_augment(factors):
    """One copy per time-stretch factor (1.0 keeps the original)."""
    factors = list(factors)

    def run(arrays, stats):
        out = []
        for factor in factors:
            if factor <= 0:
                raise ValueError(f"stretch factors must be positive, got {factor}")
            stretched = arrays if factor == 1.0 else notearrays.stretch(arrays, factor)
            if factor != 1.0:
                stretched = dataclasses.replace(stretched, id=f"{arrays.id}#stretch{factor:g}")
            out.append(stretched)
        return out
    return run


def is_eval(sequence_id, eval_ratio):
    """Deterministic train/eval assignment from the source id alone (stable across runs,
    machines and corpus order)."""
    if eval_ratio <= 0:
        return False
    digest = hashlib.sha256(sequence_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64 < eval_ratio
