"""Finding and loading bundles by name or path, for every family.

Shipped bundles live in the repository's `bundles/` folder (installed to
`<prefix>/share/musiczoo/bundles` by a non-editable install); `MUSICZOO_BUNDLES`
(a path list) is searched first. `load_bundle("attention_rnn")` and
`load_bundle("path/to/x.mzb")` both work.
"""
import os
import pathlib
import sys

import numpy as np

from musiczoo import bundle as bundle_format
from musiczoo import registry


def bundle_dirs():
    dirs = [pathlib.Path(p) for p in os.environ.get("MUSICZOO_BUNDLES", "").split(os.pathsep) if p]
    dirs.append(pathlib.Path(__file__).resolve().parent.parent / "bundles")
    dirs.append(pathlib.Path(sys.prefix) / "share" / "musiczoo" / "bundles")
    return [d for d in dirs if d.is_dir()]


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
    names = ", ".join(sorted(available)) or "none installed"
    raise registry.RegistryError(
        f"unknown bundle {name_or_path!r}{registry._suggest(name_or_path, available)}; "
        f"shipped bundles: {names}")


def load_bundle(name_or_path):
    """The model stored in a bundle, ready to generate (or encode/interpolate)."""
    path = resolve_bundle(name_or_path)
    families = registry.families()
    contents = bundle_format.read_bundle(path, known_families=families)
    family = families[contents.family]
    return family.model_class().from_bundle(contents, path=path)


def save_model_bundle(path, *, family, config, codec, model, metadata=None):
    """Writes a Keras model with its config and codec as one bundle file.

    Weights are stored in `model.weights` order under their variable paths; loading
    rebuilds the model from the config and assigns them in the same order.
    """
    weights = [(variable.path, np.asarray(variable.numpy())) for variable in model.weights]
    return bundle_format.write_bundle(
        path, family=family, config_name=config.name, config=registry.config_to_dict(config),
        codec=codec.get_config(), weights=weights, metadata=metadata or {})


def restore_weights(model, contents, path="<bundle>"):
    """Assigns a bundle's weights to a model built from its config, refusing any mismatch
    (count or shape) with a BundleError that names both sides."""
    variables = model.weights
    if len(variables) != len(contents.weights):
        raise bundle_format.BundleError(
            path, "mismatched_weights",
            f"the bundle holds {len(contents.weights)} weight arrays but a "
            f"{contents.family}/{contents.config_name} model has {len(variables)}")
    for variable, (name, value) in zip(variables, contents.weights):
        if tuple(variable.shape) != tuple(value.shape):
            raise bundle_format.BundleError(
                path, "mismatched_weights",
                f"weight {name} has shape {tuple(value.shape)}, the model expects "
                f"{tuple(variable.shape)} for {variable.path}")
        if np.dtype(value.dtype) != np.dtype(variable.dtype):
            raise bundle_format.BundleError(
                path, "mismatched_weights",
                f"weight {name} is {value.dtype}, the model's {variable.path} is "
                f"{variable.dtype}")
    model.set_weights([value for _, value in contents.weights])
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
