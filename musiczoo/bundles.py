"""Finding and loading bundles by name or path, for every family.

Shipped bundles live in the repository's `bundles/` folder (installed to
`<prefix>/share/musiczoo/bundles` by a non-editable install); `MUSICZOO_BUNDLES`
(a path list) is searched first. `load_bundle("attention_rnn")` and
`load_bundle("path/to/x.mzb")` both work.
"""
import os
import pathlib
import sys

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
