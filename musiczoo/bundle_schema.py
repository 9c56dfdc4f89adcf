"""The bundle header's schema, version by version, and the migrations between them.

The binary layout (musiczoo/bundle.py, `format_version`) says where the header and the
arrays are; this schema says what the header's JSON means. A reader migrates any older
header to the current version, one step at a time, before anything is built from it.

Version 1 (musiczoo 0.1, every bundle shipped before issue 11; no `header_version` key):
    musiczoo_version str, family str, config_name str, config {field: value},
    codec {"class": name, ...arguments}, metadata {...}, weights [{name, dtype, shape,
    offset, nbytes}]. Weight names are Keras variable paths *including the model's root
    name* (`melody_rnn/rnn/events_rnn_cell/lstm_0/kernel`), and loaders assigned them by
    position, in `model.weights` order.
Version 2 (current): as version 1 plus `header_version: 2`. Weight names are variable
    paths *relative to the model* (`rnn/events_rnn_cell/lstm_0/kernel`), and loaders assign
    them by name: a missing, extra or renamed variable is refused with both names shown,
    whatever order a Keras release creates variables in.

Migrations: 1 -> 2 drops the leading `<family>/` from every weight name (every version-1
writer named the model after its family; a name without that prefix is kept as it is, and
a restore by name then says which variable it does not fit).
"""
import dataclasses

HEADER_VERSION = 2


def _v1_to_v2(contents):
    prefix = f"{contents.family}/"
    weights = [(name[len(prefix):] if name.startswith(prefix) else name, array)
               for name, array in contents.weights]
    return dataclasses.replace(contents, weights=weights, header_version=2)


# (from version, migration to from + 1)
MIGRATIONS = {1: _v1_to_v2}


def migrate(contents):
    """`contents` (bundle.BundleContents) at HEADER_VERSION; each step in MIGRATIONS."""
    while contents.header_version < HEADER_VERSION:
        contents = MIGRATIONS[contents.header_version](contents)
    return contents


def header_version(header, fail):
    """The header's schema version (1 when absent), refusing what this reader can't read
    through `fail(reason, detail)`."""
    version = header.get("header_version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        fail("bad_header", f"header_version must be an integer >= 1, got {version!r}")
    if version > HEADER_VERSION:
        fail("future_version", f"header schema version {version} is newer than this "
                               f"musiczoo reads ({HEADER_VERSION}); upgrade musiczoo to load it")
    return version
