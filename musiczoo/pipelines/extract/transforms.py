"""Transforms over sequences: each returns zero or more outputs and counts what it drops.

A transform is any callable `(NoteArrays, Stats) -> list[NoteArrays]`; `compose` chains
them. They run before quantization (on times in seconds), so augmentation and splitting
happen where note_seq's did. Train/eval partition is by source id, before any
augmentation, so variants of one piece never land on both sides.
"""
import dataclasses
import hashlib

from musiczoo.pipelines.extract import notearrays


def compose(*transforms):
    """One transform that applies `transforms` in order, fanning out their outputs."""
    def run(arrays, stats):
        items = [arrays]
        for transform in transforms:
            items = [out for item in items for out in transform(item, stats)]
        return items
    return run


def split_by_length(max_seconds):
    """Cuts a sequence into pieces of `max_seconds` (note_seq's split_note_sequence)."""
    def run(arrays, stats):
        return notearrays.split_every(arrays, max_seconds, stats)
    return run


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
