"""musiczoo: a maintained model zoo for symbolic music on TensorFlow 2 / Keras 3."""
import glob
import pathlib
import re

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"',
                    (HERE / "musiczoo" / "version.py").read_text()).group(1)

SCRIPTS = ["create_dataset", "train", "generate", "interpolate", "convert", "bundles",
           "compose", "serve", "import", "export"]
SERVE = ["fastapi>=0.110", "uvicorn>=0.29", "python-multipart>=0.0.9"]

setup(
    name="musiczoo",
    version=VERSION,
    description="Melody RNN, Drums RNN, MusicVAE and Music Transformer on TF2/Keras 3, "
                "with NoteSequence pipelines and one-file bundles.",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["musiczoo", "musiczoo.*"]),
    include_package_data=True,
    package_data={"musiczoo.serve": ["static/*"]},
    # Shipped bundles, for non-editable installs (musiczoo.bundles looks there too).
    data_files=[("share/musiczoo/bundles", sorted(glob.glob("bundles/*.mzb")))],
    install_requires=[
        "tensorflow>=2.16",  # Keras 3
        "tensorboard>=2.16",  # training summaries (TF 2.21 no longer pulls it in)
        "note-seq>=0.0.5",
        "tensorflow-datasets>=4.9",
        "absl-py>=1.0",
        "numpy>=1.24",
        "pretty_midi>=0.2.10",
        "music21>=9.1",  # its bundled corpus: Bach chorales, Essen and O'Neill folk tunes
        "matplotlib>=3.7",  # piano rolls (PNG, SVG)
        "soundfile>=0.12",  # FLAC / OGG / MP3 audio (libsndfile inside the wheel)
        "tqdm>=4.60",  # progress bars on a terminal
    ],
    extras_require={
        "test": ["pytest>=7", "pytest-xdist>=3.5", "httpx>=0.27", "selenium>=4.20"] + SERVE,
        # The studio: musiczoo_serve (the web page and its HTTP API).
        "serve": SERVE,
    },
    entry_points={
        "console_scripts": [
            # "import" is a Python keyword, so its module is import_.
            f"musiczoo_{verb}=musiczoo.scripts.{'import_' if verb == 'import' else verb}:run"
            for verb in SCRIPTS
        ],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: Apache Software License",
        "Topic :: Multimedia :: Sound/Audio :: MIDI",
    ],
)
