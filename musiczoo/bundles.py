"""Finding and loading bundles by name or path, for every family.

Shipped bundles live in the repository's `bundles/` folder, installed as the package
data of `musiczoo.shipped` (pyproject.toml maps the folder to it, for editable, `--user`
and `--target` installs alike) and found through importlib.resources; `MUSICZOO_BUNDLES`
(a path list) is searched first. `load_bundle("attention_rnn")` and
`load_bundle("path/to/x.mzb")` both work.
"""
import importlib.resources
import os
import pathlib

import numpy as np

from musiczoo import bundle as bundle_format
from musiczoo import registry


SHIPPED_PACKAGE = "musiczoo.shipped"


def shipped_dir():
    """The folder of the shipped bundles (with their golden records and profiles), or None
    where this musiczoo was installed without them (e.g. zipped: bundles are read as files)."""
    try:
        found = importlib.resources.files(SHIPPED_PACKAGE)
    except ModuleNotFoundError:
        return None
    return found if isinstance(found, pathlib.Path) and found.is_dir() else None


def bundle_dirs():
    dirs = [pathlib.Path(p) for p in os.environ.get("MUSICZOO_BUNDLES", "").split(os.pathsep) if p]
    dirs = [d for d in dirs if d.is_dir()]
    shipped = shipped_dir()
    return dirs + [shipped] if shipped is not None else dirs


def list_bundles():
    """{name: path} of every bundle found, first directory winning on name clashes."""
    found = {}
    for directory in bundle_dirs():
        for path in sorted(directory.glob(f"*{bundle_format.EXTENSION}")):
            found.setdefault(path.stem, path)
    return found


def resolve_bundle(name_or_path):
    """Path of a bundle given as a path or a shipped name; clear error otherwise."""
    path = pathlib.Path(name_or_path)
    if path.suffix == bundle_format.EXTENSION or path.exists():
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such bundle file")
        return path
    available = list_bundles()
    if name_or_path in available:
        return available[name_or_path]
    names = ", ".join(sorted(available)) or (
        "none installed" if shipped_dir() is not None else
        f"none found ({SHIPPED_PACKAGE} is not installed: reinstall musiczoo, e.g. "
        "pip install -e . in a checkout)")
    raise registry.RegistryError(
        f"unknown bundle {name_or_path!r}{registry._suggest(name_or_path, available)}; "
        f"shipped bundles: {names}")


def load_bundle(name_or_path, config=None, hparams=None):
    """The model stored in a bundle, ready to generate (or encode/interpolate). A
    Magenta model works too (a .mag, a TF checkpoint or a .tar holding one, a Magenta.js
    folder: musiczoo.interop), imported on the fly; `config` names its config where the
    file does not."""
    from musiczoo.interop import importer
    candidate = pathlib.Path(name_or_path) if name_or_path is not None else None
    if candidate is not None and candidate.suffix != bundle_format.EXTENSION and (
            candidate.exists() or pathlib.Path(str(candidate) + ".index").exists()) and \
            importer.is_magenta_model(candidate):
        return importer.import_model(candidate, config=config, hparams=hparams)
    if config is not None or hparams:
        raise registry.RegistryError("--config and --hparams go with a Magenta model (the "
                                     "graph it was built with); a musiczoo bundle stores "
                                     "its own config")
    path = resolve_bundle(name_or_path)
    families = registry.families()
    contents = bundle_format.read_bundle(path, known_families=families)
    family = families[contents.family]
    return family.model_class().from_bundle(contents, path=path)


def variable_key(model, variable):
    """A variable's name in bundles and checkpoints: its path relative to the model
    (`rnn/events_rnn_cell/lstm_0/kernel`), the same whatever the model is called."""
    prefix = f"{model.name}/"
    return variable.path[len(prefix):] if variable.path.startswith(prefix) else variable.path


def variables_by_key(model, variables=None):
    """{key: variable}, refusing a model whose keys are not unique (nothing could be
    restored by name from it)."""
    found = {}
    for variable in model.weights if variables is None else variables:
        key = variable_key(model, variable)
        if key in found:
            raise ValueError(f"two variables of {model.name} are both named {key!r}: name "
                             "the layers explicitly")
        found[key] = variable
    return found


def save_model_bundle(path, *, family, config, codec, model, metadata=None):
    """Writes a Keras model with its config and codec as one bundle file, each weight
    under its path relative to the model (header schema 2: restored by name)."""
    weights = [(key, np.asarray(variable.numpy()))
               for key, variable in variables_by_key(model).items()]
    return bundle_format.write_bundle(
        path, family=family, config_name=config.name, config=registry.config_to_dict(config),
        codec=codec.get_config(), weights=weights, metadata=metadata or {})


def restore_weights(model, contents, path="<bundle>"):
    """Assigns a bundle's weights to a model built from its config, by name: every model
    variable must have exactly one array of its shape and dtype, and every array a
    variable. Anything else is a BundleError naming both sides; nothing is assigned
    unless everything fits."""
    def refuse(detail):
        raise bundle_format.BundleError(path, "mismatched_weights", detail)

    variables = variables_by_key(model)
    stored = dict(contents.weights)
    missing = [key for key in variables if key not in stored]
    extra = [key for key in stored if key not in variables]
    what = f"a {contents.family}/{contents.config_name} model"
    if missing or extra:
        renamed = [(m, e) for m in missing for e in extra
                   if tuple(variables[m].shape) == tuple(stored[e].shape)]
        if renamed:
            m, e = renamed[0]
            refuse(f"{what} has variable {m!r}, the bundle has {e!r} of the same shape "
                   f"instead (renamed?); {len(missing)} variable(s) without an array")
        parts = []
        if missing:
            parts.append(f"{len(missing)} model variable(s) not in the bundle, e.g. "
                         f"{missing[0]!r}")
        if extra:
            parts.append(f"{len(extra)} bundle array(s) no variable takes, e.g. {extra[0]!r}")
        refuse(f"the bundle holds {len(stored)} weight arrays, {what} has "
               f"{len(variables)} variables: " + "; ".join(parts))
    for key, variable in variables.items():
        value = stored[key]
        if tuple(variable.shape) != tuple(value.shape):
            refuse(f"weight {key} has shape {tuple(value.shape)}, the model expects "
                   f"{tuple(variable.shape)} for {variable.path}")
        if np.dtype(value.dtype) != np.dtype(variable.dtype):
            refuse(f"weight {key} is {value.dtype}, the model's {variable.path} is "
                   f"{variable.dtype}")
    for key, variable in variables.items():
        variable.assign(stored[key])
    return model


def model_parts(contents, path="<bundle>"):
    """(config, codec) rebuilt from a bundle's contents, for a family's from_bundle.

    The header is untrusted even with a valid checksum (anyone can recompute it): a
    config or codec that does not fit the schema is a BundleError naming the problem."""
    from musiczoo.pipelines.codecs import codec_from_config

    def refuse(what, error):
        raise bundle_format.BundleError(path, "bad_header", f"its {what} is invalid: {error}")

    try:
        config = registry.config_from_dict(contents.family, contents.config)
    except (ValueError, TypeError) as error:
        refuse("config", error)
    if config.name != contents.config_name:
        refuse("config", f"its name {config.name!r} differs from the header's config_name "
                         f"{contents.config_name!r}")
    try:
        codec = codec_from_config(contents.codec)
    except (ValueError, TypeError) as error:
        refuse("codec", error)
    return config, codec
