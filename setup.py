"""Kept for the project layout; the metadata is in pyproject.toml."""
from setuptools import setup

setup()
