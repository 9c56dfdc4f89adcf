"""The package as a user gets it: the wheel built from this tree holds every package, the
shipped bundles with their sidecars, the studio's static files and the console scripts, and
a non-editable install of it (pip --target, run from another folder) finds and uses them."""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import zipfile

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10: pytest brings tomli
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SIDECARS = (".golden.json", ".profile.json", ".windows.npy")
SHIPPED = sorted(p.name for p in (ROOT / "bundles").iterdir()
                 if p.suffix == ".mzb" or p.name.endswith(SIDECARS))
STATIC = sorted(p.name for p in (ROOT / "musiczoo" / "serve" / "static").iterdir() if p.is_file())
VERBS = sorted(p.stem.rstrip("_") for p in (ROOT / "musiczoo" / "scripts").glob("*.py")
               if "__main__" in p.read_text())


def run(command, **kwargs):
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, **kwargs)
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel, built from a copy of what a build reads (no stale build/ folder of the
    working tree can leak into it) without build isolation (offline, seconds)."""
    tmp = tmp_path_factory.mktemp("packaging")
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("musiczoo", "bundles"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
         "--quiet", "-w", str(tmp / "dist")])
    [built] = (tmp / "dist").glob("musiczoo-*.whl")
    return built


@pytest.fixture(scope="module")
def site(wheel):
    target = wheel.parent.parent / "site"
    run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target",
         str(target), str(wheel)])
    return target


def test_pyproject_lists_every_package():
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "musiczoo").rglob("__init__.py")} | {"musiczoo.shipped"}
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    assert not found - listed, (f"pyproject.toml [tool.setuptools] packages lacks "
                                f"{sorted(found - listed)}: add them there")
    assert not listed - found, f"pyproject.toml lists packages that do not exist: {listed - found}"


def test_this_checkout_serves_its_bundles_folder_as_the_shipped_package():
    import musiczoo
    from musiczoo import bundles
    if not pathlib.Path(musiczoo.__file__).resolve().is_relative_to(ROOT):
        pytest.skip("musiczoo is not imported from this checkout")
    # The editable install's finder maps musiczoo.shipped to bundles/ (pyproject.toml).
    assert bundles.shipped_dir() == ROOT / "bundles", "reinstall: pip install -e ."
    found = bundles.list_bundles()
    for name in SHIPPED:
        if name.endswith(".mzb"):
            assert found[name[:-4]].parent in (ROOT / "bundles", *bundles.bundle_dirs())


def test_the_wheel_holds_the_code_bundles_static_files_and_scripts(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
    assert {n.split("/")[0] for n in names} == {"musiczoo", info}  # nothing else top-level
    for package in PYPROJECT["tool"]["setuptools"]["packages"]:
        assert package.replace(".", "/") + "/__init__.py" in names, package
    for name in SHIPPED:
        assert f"musiczoo/shipped/{name}" in names, name
    assert len([n for n in SHIPPED if n.endswith(".mzb")]) >= 8
    for name in STATIC:
        assert f"musiczoo/serve/static/{name}" in names, name
    entry_points = zipfile.ZipFile(wheel).read(f"{info}/entry_points.txt").decode()
    for verb in VERBS:
        module = "import_" if verb == "import" else verb
        assert f"musiczoo_{verb} = musiczoo.scripts.{module}:run" in entry_points, verb
    metadata = zipfile.ZipFile(wheel).read(f"{info}/METADATA").decode()
    assert "Requires-Dist: tensorflow>=2.16" in metadata
    assert "Provides-Extra: beam" in metadata and "License-Expression: Apache-2.0" in metadata


def test_an_installed_copy_finds_and_uses_its_shipped_bundles(site, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("MUSICZOO_BUNDLES", None)
    elsewhere = tmp_path / "elsewhere"  # not the checkout: nothing found through the cwd
    elsewhere.mkdir()
    probe = """if True:
        import json, pathlib, musiczoo
        from musiczoo import bundles, golden
        from musiczoo.compose import profile
        found = musiczoo.list_bundles()
        model = musiczoo.load_bundle("basic_rnn")
        [song] = model.generate(1, 16, seed=1)
        stem = found["basic_rnn"].with_suffix("")
        print(json.dumps({
            "file": musiczoo.__file__, "shipped": str(bundles.shipped_dir()),
            "bundles": {name: str(path) for name, path in found.items()},
            "golden": golden.find(found["basic_rnn"], {}) is not None,
            "profile": profile.Profile.load(stem) is not None, "notes": len(song.notes)}))
    """
    answer = json.loads(run([sys.executable, "-c", probe], cwd=elsewhere, env=env)
                        .strip().splitlines()[-1])
    assert pathlib.Path(answer["file"]).is_relative_to(site)
    assert pathlib.Path(answer["shipped"]) == site / "musiczoo" / "shipped"
    assert sorted(answer["bundles"]) == sorted(n[:-4] for n in SHIPPED if n.endswith(".mzb"))
    assert all(pathlib.Path(p).is_relative_to(site) for p in answer["bundles"].values())
    assert answer["golden"] and answer["profile"] and answer["notes"] > 0
    # The console script pip generated, and the module form, from the same install.
    checked = run([str(site / "bin" / "musiczoo_bundles"), "--check", "basic_rnn"],
                  cwd=elsewhere, env=env)
    assert "golden scores equal" in checked and str(site) in checked
    listing = run([sys.executable, "-m", "musiczoo.scripts.bundles"], cwd=elsewhere, env=env)
    assert all(name in listing for name in answer["bundles"])
