"""The shipped bundles, as package data: installed as `musiczoo.shipped` (pyproject.toml maps
this folder to it) and found through importlib.resources by `musiczoo.bundles`."""
