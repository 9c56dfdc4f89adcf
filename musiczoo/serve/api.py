"""The JSON API under /api/: one function per verb, each calling the library as the
console scripts do. User mistakes are 400 with the reason, limits 413/422, a full server
429; nothing from a request names a file on disk."""
from typing import Optional

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse

from musiczoo import bundle as bundle_format
from musiczoo import bundles
from musiczoo.controls import ControlError, Controls
from musiczoo.serve import schemas
from musiczoo.serve.results import store_result
from musiczoo.serve.work import Busy

router = APIRouter(prefix="/api")
_MEDIA = {".mid": "audio/midi", ".wav": "audio/wav", ".svg": "image/svg+xml",
          ".png": "image/png"}


def context(request: Request):
    return request.app.state


def authorised(request: Request):
    token = request.app.state.settings.token
    if not token:
        return
    given = request.headers.get("authorization", "").removeprefix("Bearer ").strip() or \
        request.query_params.get("token")
    if given != token:
        raise HTTPException(401, "this studio needs its token (Authorization: Bearer ...)")


def _limits(state, outputs=None, controls=None):
    settings = state.settings
    if outputs is not None and outputs > settings.max_outputs:
        raise HTTPException(422, f"at most {settings.max_outputs} outputs per request, "
                                 f"asked {outputs}")
    if controls is not None and controls.bars and controls.bars > settings.max_bars:
        raise HTTPException(422, f"at most {settings.max_bars} bars per request, asked "
                                 f"{controls.bars}")


def _known(name):
    if name not in bundles.list_bundles():
        raise HTTPException(404, f"unknown bundle {name!r}; GET /api/bundles lists them")


def _run(state, job):
    try:
        return state.workshop.run(job)
    except Busy:
        raise HTTPException(429, "the studio is busy: try again in a moment") from None
    except (ControlError, ValueError) as error:  # the request's music cannot be made
        raise HTTPException(400, str(error)) from None


def _controls(fields):
    try:
        return fields.controls()
    except ControlError as error:
        raise HTTPException(400, str(error)) from None


@router.get("/bundles", response_model=list[schemas.BundleInfo],
            dependencies=[Depends(authorised)])
def list_bundles():
    """The bundles this studio plays, with what each can do and which controls it takes."""
    found = []
    for name, path in sorted(bundles.list_bundles().items()):
        try:
            header = bundle_format.read_header(path)
        except bundle_format.BundleError:
            continue
        found.append(schemas.BundleInfo(
            name=name, family=header.family, config=header.config_name,
            description=str(header.metadata.get("description", "")),
            training_data=str(header.metadata.get("training_data", "")),
            capabilities=_capabilities(header), controls=accepted_controls(header)))
    return found


def _capabilities(header):
    found = ["generate", "compose"]
    if header.family == "music_vae":
        found += ["interpolate", "vary"]
    else:
        found += ["continue", "vary"]
    if header.family == "music_transformer" and header.config.get("representation") == "chorale":
        found.append("harmonize")
    return found


def accepted_controls(header):
    """Control names a bundle takes (what its family's check_controls does not refuse)."""
    family, config = header.family, header.config
    representation = config.get("representation")
    if family == "drums_rnn" or representation == "drums":
        names = ["bars", "qpm", "drums", "density"]
        return names + (["time_signature"] if family == "drums_rnn" else ["attribute"])
    pitched = ["key", "scale", "pitch_set", "pitch_range", "end_on_tonic", "instrument", "qpm"]
    if family == "music_vae":
        return ["bars"] + pitched + ["density", "attribute"]
    if family == "music_transformer":
        if representation == "multitrack":
            return ["bars", "time_signature", "qpm", "key", "scale", "pitch_set",
                    "pitch_range", "end_on_tonic", "style", "instruments"]
        if representation != "chorale":
            return pitched
        return ["bars", "time_signature"] + pitched + ["harmonize"]
    meters = ["time_signature"] if config.get("encoding") != "key" else []
    return ["bars"] + meters + pitched + ["density"]


def settings_of(record_controls):
    """A result's recorded controls (Controls.as_dict) back as Controls.parse keywords."""
    out = {}
    for name, value in (record_controls or {}).items():
        if name == "pitch_range":
            value = f"{value[0]}:{value[1]}"
        elif name in ("drums", "instruments"):
            value = ",".join(value)
        elif name == "attributes":
            name, value = "attribute", ",".join(f"{k}:{v}" for k, v in value.items())
        elif name == "harmonize":
            continue
        out[name] = value
    return out


@router.post("/generate", response_model=schemas.Result, responses={400: {"model": schemas.Problem}},
             dependencies=[Depends(authorised)])
def generate(body: schemas.GenerateRequest, state=Depends(context)):
    """Outputs of one bundle under the given controls (every output measured against them)."""
    _known(body.bundle)
    controls = _controls(body)
    _limits(state, body.num_outputs, controls)

    def job():
        model = state.workshop.model(body.bundle)
        sequences = model.generate(body.num_outputs, controls=controls, seed=body.seed,
                                   temperature=body.temperature, top_k=body.top_k)
        return store_result(state.store, "generate", body.bundle, sequences,
                            controls=model.last_controls or controls,
                            audio=state.settings.audio)
    return _run(state, job)


@router.post("/compose", response_model=schemas.Result, responses={400: {"model": schemas.Problem}},
             dependencies=[Depends(authorised)])
def compose(body: schemas.ComposeRequest, state=Depends(context)):
    """Ranked variations from a prompt (controls given here win over the prompt)."""
    from musiczoo.compose import compose as composer
    if body.bundle:
        _known(body.bundle)
    _limits(state, body.variations)

    def job():
        plan, controls, seed, pieces, model = composer.make_variations(
            body.prompt, seed=body.seed, bundle=body.bundle, num_variations=body.variations,
            temperature=body.temperature, controls=body.settings(), load=state.workshop.model)
        _limits(state, plan.num_variations, controls)
        scored = composer.ranked(model, controls, pieces)
        return store_result(state.store, "compose", plan.bundle, [p for _, p, _ in scored],
                            controls=controls, seeds=[s for s, _, _ in scored],
                            scores=[sc for _, _, sc in scored], summary=plan.summary(),
                            audio=state.settings.audio)
    return _run(state, job)


async def _upload(state, upload: Optional[UploadFile], what):
    """A MIDI upload as a NoteSequence (the MIDI limits apply), read in memory only."""
    from musiczoo.pipelines.readers.errors import ReadError
    from musiczoo.pipelines.readers.midi import midi_bytes_to_sequence
    if upload is None:
        return None
    data = await upload.read(state.settings.max_upload_bytes + 1)
    if len(data) > state.settings.max_upload_bytes:
        raise HTTPException(413, f"{what}: uploads are limited to "
                                 f"{state.settings.max_upload_bytes} bytes")
    try:
        return midi_bytes_to_sequence(data, f"{what} ({upload.filename or 'upload'})")
    except ReadError as error:
        raise HTTPException(400, str(error)) from None


def _from_result(state, reference, what):
    """'<result id>:<index>' -> that item's NoteSequence."""
    from musiczoo.pipelines.readers.files import read_file
    result_id, _, index = (reference or "").partition(":")
    record = state.store.get(result_id)
    if record is None or not index.isdigit() or int(index) >= len(record["items"]):
        raise HTTPException(404, f"{what}: no result item {reference!r} (results expire)")
    path = state.store.file(result_id, f"{int(index) + 1}.mid")
    return read_file(path)[0], record


@router.post("/interpolate", response_model=schemas.Result,
             responses={400: {"model": schemas.Problem}}, dependencies=[Depends(authorised)])
async def interpolate(state=Depends(context), bundle: str = Form("cat-mel_2bar_small"),
                      num_outputs: int = Form(5, ge=2), seed: Optional[int] = Form(None),
                      first: Optional[UploadFile] = File(None),
                      second: Optional[UploadFile] = File(None),
                      first_ref: Optional[str] = Form(None),
                      second_ref: Optional[str] = Form(None)):
    """The latent path between two pieces: two MIDI uploads, or two earlier result items
    (`first_ref`/`second_ref` = '<result id>:<index>')."""
    _known(bundle)
    _limits(state, num_outputs)
    ends = []
    for upload, reference, what in ((first, first_ref, "first"), (second, second_ref, "second")):
        sequence = await _upload(state, upload, what)
        if sequence is None:
            sequence, _ = _from_result(state, reference, what)
        ends.append(sequence)

    def job():
        model = state.workshop.model(bundle)
        if "interpolate" not in model.capabilities:
            raise ValueError(f"{bundle} cannot interpolate: only MusicVAE bundles can")
        sequences = model.interpolate(ends[0], ends[1], num_outputs, seed=seed)
        return store_result(state.store, "interpolate", bundle, sequences,
                            audio=state.settings.audio)
    return _run(state, job)


@router.post("/continue", response_model=schemas.Result,
             responses={400: {"model": schemas.Problem}}, dependencies=[Depends(authorised)])
async def continue_(state=Depends(context), midi: UploadFile = File(...),
                    bundle: str = Form("lookback_rnn"), num_outputs: int = Form(2, ge=1),
                    bars: Optional[int] = Form(None, ge=1), seed: Optional[int] = Form(None),
                    harmonize: bool = Form(False), key: Optional[str] = Form(None)):
    """Continue an uploaded MIDI (it is kept as the opening), or with `harmonize` write
    alto, tenor and bass under its melody (chorale_transformer)."""
    _known(bundle)
    sequence = await _upload(state, midi, "midi")
    try:
        controls = Controls.parse(bars=bars, key=key, harmonize=sequence if harmonize else None)
    except ControlError as error:
        raise HTTPException(400, str(error)) from None
    _limits(state, num_outputs, controls)

    def job():
        model = state.workshop.model(bundle)
        primer = None if harmonize else sequence
        if primer is not None and "primer_midi" not in model.primer_flags:
            raise ValueError(f"{bundle} does not continue music: use an RNN or the Music "
                             "Transformer, or /api/interpolate for a MusicVAE")
        sequences = model.generate(num_outputs, primer=primer, controls=controls, seed=seed)
        marked = None if harmonize else sequence.total_time
        return store_result(state.store, "continue", bundle, sequences,
                            controls=model.last_controls or controls,
                            audio=state.settings.audio, marked_until=marked)
    return _run(state, job)


@router.post("/vary", response_model=schemas.Result, responses={400: {"model": schemas.Problem}},
             dependencies=[Depends(authorised)])
def vary(body: schemas.VaryRequest, state=Depends(context)):
    """More like one earlier item: its opening half kept (RNNs, Transformer) or its latent
    code moved by `amount` (MusicVAE), under the same controls."""
    from musiczoo.compose.form import more_like
    from musiczoo.compose.compose import variation_seeds
    _limits(state, body.variations)
    source, record = _from_result(state, f"{body.result_id}:{body.index}", "result")
    settings = settings_of(record.get("controls"))

    def job():
        model = state.workshop.model(record["bundle"])
        controls = Controls.parse(**settings)
        seeds = variation_seeds(body.seed, body.variations)
        sequences = [more_like(model, source, controls, 1.0, s, body.amount) for s in seeds]
        return store_result(state.store, "vary", record["bundle"], sequences,
                            controls=controls, seeds=seeds, audio=state.settings.audio)
    return _run(state, job)


@router.get("/results/{result_id}", response_model=schemas.Result,
            dependencies=[Depends(authorised)])
def result(result_id: str, state=Depends(context)):
    record = state.store.get(result_id)
    if record is None:
        raise HTTPException(404, "no such result (results expire)")
    return record


@router.get("/results/{result_id}/{name}", dependencies=[Depends(authorised)])
def result_file(result_id: str, name: str, state=Depends(context)):
    path = state.store.file(result_id, name)
    if path is None:
        raise HTTPException(404, "no such file in that result (results expire)")
    return FileResponse(path, media_type=_MEDIA.get(path.suffix, "application/octet-stream"),
                        filename=f"musiczoo-{result_id[:8]}-{name}")
