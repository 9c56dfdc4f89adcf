"""Turning generated NoteSequences into a stored result: MIDI, WAV and piano roll per
item, their URLs, and what each output obeyed. The server names every file itself."""
import logging

from musiczoo.controls import compliance
from musiczoo.pipelines.writers import end_at_bar_line, midi_bytes
from musiczoo.render.audio import render_wav
from musiczoo.render.piano_roll import piano_roll

log = logging.getLogger("musiczoo")


def store_result(store, kind, bundle, sequences, *, controls=None, seeds=None, scores=None,
                 summary="", audio=True, marked_until=None, folder=None, result_id=None):
    """Writes every sequence's files into a new result (or `folder` of `result_id`, made
    by store.new()) and saves its record; returns the record."""
    if folder is None:
        result_id, folder = store.new()
    files, items, synth = [], [], None
    for index, sequence in enumerate(sequences):
        end_at_bar_line(sequence)
        midi = f"{index + 1}.mid"
        (folder / midi).write_bytes(midi_bytes(sequence))
        files.append(midi)
        item = {"index": index, "midi": _url(result_id, midi), "wav": None, "roll": None,
                "seconds": round(sequence.total_time, 3), "notes": len(sequence.notes),
                "seed": seeds[index] if seeds else None, "compliance": {},
                "scores": scores[index] if scores else None}
        if controls is not None:
            item["compliance"] = compliance.measure(sequence, controls)["checks"]
        if audio:
            wav = f"{index + 1}.wav"
            info = render_wav(sequence, folder / wav)
            synth = info.get("synth", synth)
            files.append(wav)
            item["wav"] = _url(result_id, wav)
        roll = f"{index + 1}.svg"
        piano_roll(sequence, folder / roll, marked_until=marked_until)
        files.append(roll)
        item["roll"] = _url(result_id, roll)
        items.append(item)
    record = {"kind": kind, "bundle": bundle, "summary": summary, "synth": synth,
              "controls": controls.as_dict() if controls is not None else {},
              "files": files, "items": items}
    return store.save(result_id, record)


def _url(result_id, name):
    return f"/api/results/{result_id}/{name}"
