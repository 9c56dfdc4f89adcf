"""The variables inside the files Magenta users hold, as {name: numpy array}.

    read_variables("attention_rnn.mag")            # GeneratorBundle: id + V1 checkpoint
    read_variables("run/train/model.ckpt-1234")    # V2 prefix (.index + .data-*), or V1 file
    read_variables("cat-mel_2bar_big.tar")         # a tar holding one checkpoint
    read_variables("checkpoints/basic_rnn/")       # Magenta.js: weights_manifest.json + shards

Nothing from a file is executed: a .mag's metagraph is never imported (only its
checkpoint bytes are read, by TensorFlow's checkpoint reader), a tar's members are
copied out as plain files under names we choose, and a Magenta.js manifest is JSON whose
shard names must be plain file names in its folder. Optimizer slots (Adam, Adam_1,
beta*_power, Momentum, ...) and global_step are left out. Sizes are bounded.
"""
import json
import os
import pathlib
import re
import shutil
import tarfile
import tempfile

import numpy as np

#: The largest .mag read (into memory, to parse its protobuf).
MAX_MAG_BYTES = 1 << 30
#: The most checkpoint bytes read from one container (a hierdec MusicVAE is ~0.7 GB).
MAX_CHECKPOINT_BYTES = 4 << 30
#: The most variables in one checkpoint.
MAX_VARIABLES = 100000

_SKIPPED = re.compile(r"(^|/)(Adam(_\d+)?|Momentum|RMSProp(_\d+)?|Adagrad|"
                      r"ExponentialMovingAverage)$|(^|/)(beta[12]_power|global_step)$")
_JS_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
_JS_QUANTIZED = {"uint8": np.uint8, "uint16": np.uint16, "float16": np.float16}


class ImportFailure(ValueError):
    """A file that cannot be imported; the message names the file and what is wrong."""


def skipped(name):
    """True for optimizer slots and step counters, which a model does not need."""
    return bool(_SKIPPED.search(name))


def kind_of(path):
    """"mag", "tar", "magenta_js", "checkpoint" (a V1 file or a V2 prefix), or None."""
    path = pathlib.Path(path)
    if path.is_dir():
        if (path / "weights_manifest.json").is_file():
            return "magenta_js"
        return "checkpoint" if _latest_in_folder(path) else None
    if path.suffix == ".mag":
        return "mag"
    if path.name.endswith((".tar", ".tar.gz", ".tgz")):
        return "tar"
    if path.suffix == ".index" or pathlib.Path(str(path) + ".index").is_file() or \
            path.name.startswith(("model.ckpt", "ckpt")) or ".ckpt" in path.name:
        return "checkpoint"
    return None


def read_variables(path):
    """(variables {name: float array}, info {"container", "generator_id", "description",
    "config"}) from any container kind_of knows."""
    path = pathlib.Path(path).expanduser()
    kind = kind_of(path)
    if kind == "mag":
        return read_mag(path)
    if kind == "tar":
        return read_tar(path)
    if kind == "magenta_js":
        return read_magenta_js(path)
    if kind == "checkpoint":
        return read_checkpoint(path), {"container": "checkpoint"}
    raise ImportFailure(f"{path}: not a Magenta model: expected a .mag bundle, a TF "
                        "checkpoint (prefix, .index, or a folder with a 'checkpoint' file), "
                        "a .tar holding one, or a Magenta.js folder with "
                        "weights_manifest.json")


# -- .mag -----------------------------------------------------------------------------

def read_mag(path):
    """A Magenta GeneratorBundle: its generator id and description, and the variables of
    its checkpoint (V1, one file, as Magenta wrote them; V2 index + data also read)."""
    from google.protobuf.message import DecodeError
    from note_seq.protobuf import generator_pb2
    data = _read_bounded(path, MAX_MAG_BYTES)
    bundle = generator_pb2.GeneratorBundle()
    try:
        bundle.ParseFromString(data)
    except DecodeError as error:
        raise ImportFailure(f"{path}: not a Magenta .mag bundle (its bytes are not a "
                            f"GeneratorBundle: {error})") from None
    if not bundle.generator_details.id:
        raise ImportFailure(f"{path}: not a Magenta .mag bundle (no generator id)")
    if not bundle.checkpoint_file:
        raise ImportFailure(f"{path}: the bundle holds no checkpoint")
    info = {"container": "mag", "generator_id": bundle.generator_details.id,
            "description": bundle.generator_details.description or
            bundle.bundle_details.description}
    with tempfile.TemporaryDirectory(prefix="musiczoo-mag-") as folder:
        files = list(bundle.checkpoint_file)
        if len(files) == 1:   # Magenta: one V1 checkpoint file
            prefix = os.path.join(folder, "model.ckpt")
            pathlib.Path(prefix).write_bytes(files[0])
        else:                 # index first, then the data shards
            prefix = os.path.join(folder, "model.ckpt")
            pathlib.Path(prefix + ".index").write_bytes(files[0])
            for k, shard in enumerate(files[1:]):
                pathlib.Path(f"{prefix}.data-{k:05d}-of-{len(files) - 1:05d}").write_bytes(
                    shard)
        return read_checkpoint(prefix, shown=path), info


# -- TF checkpoints ---------------------------------------------------------------------

def _latest_in_folder(folder):
    """The prefix a folder's 'checkpoint' file names (as tf.train.latest_checkpoint), or
    the newest *.index in it."""
    state = folder / "checkpoint"
    if state.is_file():
        match = re.search(r'^model_checkpoint_path:\s*"([^"]+)"', state.read_text(
            errors="replace")[:100000], re.M)
        if match:
            name = pathlib.Path(match.group(1)).name  # never leaves the folder
            return folder / name
    indexes = sorted(folder.glob("*.index"), key=lambda p: p.stat().st_mtime)
    return indexes[-1].with_suffix("") if indexes else None


def checkpoint_prefix(path):
    """The prefix of the checkpoint `path` names (a prefix, its .index, a V1 file or a
    folder), checking that its files are all there."""
    path = pathlib.Path(path)
    if path.is_dir():
        found = _latest_in_folder(path)
        if found is None:
            raise ImportFailure(f"{path}: no checkpoint in this folder (no 'checkpoint' "
                                "file, no *.index)")
        path = found
    if path.suffix == ".index":
        path = path.with_suffix("")
    elif re.search(r"\.data-\d{5}-of-\d{5}$", path.name):
        path = path.with_name(re.sub(r"\.data-\d{5}-of-\d{5}$", "", path.name))
    index = pathlib.Path(str(path) + ".index")
    if index.is_file():
        shards = sorted(path.parent.glob(path.name + ".data-*-of-*"))
        total = None
        for shard in shards:
            match = re.search(r"\.data-(\d{5})-of-(\d{5})$", shard.name)
            if match:
                total = int(match.group(2))
        expected = [f"{path.name}.data-{k:05d}-of-{(total or 1):05d}"
                    for k in range(total or 1)]
        missing = [name for name in expected if not (path.parent / name).is_file()]
        if missing:
            raise ImportFailure(f"{path.parent / missing[0]} not found next to the index "
                                f"{index.name}")
        return path
    if path.is_file():
        return path   # a V1 checkpoint: one file
    raise ImportFailure(f"{path}: no such checkpoint (neither {index.name} nor a V1 "
                        "checkpoint file)")


def read_checkpoint(path, shown=None):
    """{name: array} of a TF checkpoint (V1 or V2), optimizer slots left out."""
    import tensorflow as tf
    shown = shown or path
    prefix = checkpoint_prefix(path)
    size = sum(p.stat().st_size for p in prefix.parent.glob(prefix.name + "*") if p.is_file())
    if size > MAX_CHECKPOINT_BYTES:
        raise ImportFailure(f"{shown}: {size / 2 ** 30:.1f} GiB of checkpoint; at most "
                            f"{MAX_CHECKPOINT_BYTES / 2 ** 30:.0f} GiB are read")
    try:
        reader = tf.train.load_checkpoint(str(prefix))
        shapes = reader.get_variable_to_shape_map()
        dtypes = reader.get_variable_to_dtype_map()
    except (tf.errors.OpError, ValueError) as error:
        message = str(getattr(error, "message", error)).split("\n")[0]
        raise ImportFailure(f"{shown}: not a readable TF checkpoint ({message})") from None
    if len(shapes) > MAX_VARIABLES:
        raise ImportFailure(f"{shown}: {len(shapes):,} variables; at most {MAX_VARIABLES:,}")
    variables = {}
    for name in sorted(shapes):
        if skipped(name):
            continue
        if not (dtypes[name].is_floating or dtypes[name].is_integer):
            continue
        try:
            value = reader.get_tensor(name)
        except tf.errors.OpError as error:
            raise ImportFailure(f"{shown}: variable {name} cannot be read "
                                f"({str(error.message).splitlines()[0]})") from None
        variables[name] = np.asarray(value)
    return variables


def read_tar(path):
    """The one checkpoint inside a tar (as Magenta's MusicVAE checkpoints are shipped):
    copied out member by member as plain files, never extracted by the tar's own names."""
    try:
        archive = tarfile.open(path)
    except (tarfile.TarError, OSError) as error:
        raise ImportFailure(f"{path}: not a readable tar ({error})") from None
    with archive, tempfile.TemporaryDirectory(prefix="musiczoo-tar-") as folder:
        members = [m for m in archive.getmembers() if m.isfile()]
        indexes = [m for m in members if m.name.endswith(".index")]
        if len(indexes) != 1:
            names = ", ".join(m.name for m in members[:8]) or "nothing"
            raise ImportFailure(f"{path}: expected one checkpoint (*.index) inside, found "
                                f"{len(indexes)} among {names}")
        stem = indexes[0].name[:-len(".index")]
        wanted = [m for m in members if m.name == indexes[0].name or
                  re.fullmatch(re.escape(stem) + r"\.data-\d{5}-of-\d{5}", m.name)]
        if sum(m.size for m in wanted) > MAX_CHECKPOINT_BYTES:
            raise ImportFailure(f"{path}: its checkpoint is over "
                                f"{MAX_CHECKPOINT_BYTES / 2 ** 30:.0f} GiB")
        for member in wanted:
            suffix = member.name[len(stem):]
            source = archive.extractfile(member)
            with source, open(os.path.join(folder, "model.ckpt" + suffix), "wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
        config = _tar_config(archive, members)
        try:
            variables = read_checkpoint(os.path.join(folder, "model.ckpt"), shown=path)
        except ImportFailure as error:
            # Name the tar's own member, not our temporary copy.
            text = str(error).replace(os.path.join(folder, "model.ckpt"), f"{path}:{stem}")
            raise ImportFailure(text.replace("model.ckpt.index", f"{stem}.index")) from None
    return variables, {"container": "tar", "checkpoint": stem, "config": config}


def _tar_config(archive, members):
    """A config name a tar states (a config.json with "config", or its folder's name)."""
    for member in members:
        if pathlib.PurePosixPath(member.name).name == "config.json" and member.size < 1 << 20:
            try:
                return json.loads(archive.extractfile(member).read()).get("config")
            except (ValueError, AttributeError):
                return None
    return None


# -- Magenta.js --------------------------------------------------------------------------

def read_magenta_js(folder):
    """{name: array} of a Magenta.js checkpoint folder, and its config.json."""
    folder = pathlib.Path(folder)
    manifest_path = folder / "weights_manifest.json"
    try:
        manifest = json.loads(_read_bounded(manifest_path, 16 << 20))
    except ValueError as error:
        raise ImportFailure(f"{manifest_path}: not JSON ({error})") from None
    config = {}
    if (folder / "config.json").is_file():
        try:
            config = json.loads(_read_bounded(folder / "config.json", 1 << 20))
        except ValueError as error:
            raise ImportFailure(f"{folder / 'config.json'}: not JSON ({error})") from None
    if not isinstance(manifest, list):
        raise ImportFailure(f"{manifest_path}: expected a list of weight groups")
    variables, total = {}, 0
    for number, group in enumerate(manifest):
        if not isinstance(group, dict) or not isinstance(group.get("paths"), list) or \
                not isinstance(group.get("weights"), list):
            raise ImportFailure(f"{manifest_path}: group {number} needs 'paths' and 'weights'")
        data = bytearray()
        for name in group["paths"]:
            if not isinstance(name, str) or pathlib.PurePath(name).name != name or \
                    name in ("", ".", ".."):
                raise ImportFailure(f"{manifest_path}: shard {name!r} is not a plain file "
                                    "name in its folder")
            shard = folder / name
            if not shard.is_file():
                raise ImportFailure(f"{shard} not found (named by {manifest_path.name})")
            total += shard.stat().st_size
            if total > MAX_CHECKPOINT_BYTES:
                raise ImportFailure(f"{folder}: over {MAX_CHECKPOINT_BYTES / 2 ** 30:.0f} GiB "
                                    "of shards")
            data += shard.read_bytes()
        offset = 0
        for weight in group["weights"]:
            name, value, offset = _js_weight(weight, data, offset, manifest_path)
            if not skipped(name):
                variables[name] = value
        if offset != len(data):
            raise ImportFailure(f"{manifest_path}: group {number}'s shards hold {len(data)} "
                                f"bytes, its weights {offset}")
    return variables, {"container": "magenta_js", "config": config}


def _js_weight(weight, data, offset, manifest_path):
    try:
        name, shape = str(weight["name"]), [int(n) for n in weight["shape"]]
        dtype = weight.get("dtype", "float32")
    except (KeyError, TypeError, ValueError):
        raise ImportFailure(f"{manifest_path}: a weight without a name and shape: "
                            f"{str(weight)[:100]}") from None
    if any(n < 0 for n in shape) or dtype not in _JS_DTYPES:
        raise ImportFailure(f"{manifest_path}: {name}: shape {shape} / dtype {dtype!r} not "
                            f"supported ({', '.join(_JS_DTYPES)})")
    count = int(np.prod(shape)) if shape else 1
    quantization = weight.get("quantization")
    stored = _JS_DTYPES[dtype]
    if quantization:
        stored = _JS_QUANTIZED.get(quantization.get("dtype"))
        if stored is None:
            raise ImportFailure(f"{manifest_path}: {name}: quantization "
                                f"{quantization.get('dtype')!r} not supported")
    size = count * np.dtype(stored).itemsize
    if offset + size > len(data):
        raise ImportFailure(f"{manifest_path}: {name} runs past the end of its shards")
    value = np.frombuffer(bytes(data[offset:offset + size]), dtype=stored).reshape(shape)
    if quantization and stored != np.float16:
        value = value.astype(np.float32) * float(quantization["scale"]) + \
            float(quantization.get("min", 0.0))
    return name, value.astype(np.float32) if dtype == "float32" else value, offset + size


def write_magenta_js(folder, variables, config, shard_bytes=4 << 20, overwrite=False):
    """Writes a Magenta.js checkpoint folder: config.json, weights_manifest.json and
    group1-shardNofM files (float32, little-endian, in name order)."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = sorted(variables)
    blob = b"".join(np.ascontiguousarray(variables[n], dtype="<f4").tobytes() for n in names)
    count = max(1, -(-len(blob) // shard_bytes))
    paths = [f"group1-shard{k + 1}of{count}" for k in range(count)]
    from musiczoo import outputs
    written = []
    for k, name in enumerate(paths):
        written.append(outputs.write_bytes(folder / name,
                                           blob[k * shard_bytes:(k + 1) * shard_bytes],
                                           overwrite=overwrite))
    manifest = [{"paths": paths, "weights": [
        {"name": n, "shape": list(np.shape(variables[n])), "dtype": "float32"}
        for n in names]}]
    written.append(outputs.write_text(folder / "weights_manifest.json",
                                      json.dumps(manifest), overwrite=overwrite))
    written.append(outputs.write_text(folder / "config.json", json.dumps(config, indent=1),
                                      overwrite=overwrite))
    return written


def _read_bounded(path, limit):
    try:
        size = os.path.getsize(path)
        if size > limit:
            raise ImportFailure(f"{path}: {size:,} bytes; at most {limit:,} are read")
        with open(path, "rb") as f:
            return f.read(limit + 1)
    except OSError as error:
        from musiczoo.outputs import describe_os_error
        raise ImportFailure(f"{path}: {describe_os_error(error)}") from None
