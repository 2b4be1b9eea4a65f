"""Packaging beyond what ``pyproject.toml`` can say: the zoo (``models/``) ships in the wheel as
the package data of ``agents.zoo_files``, so ``agents.zoo.load("<name>")`` works after a plain
``pip install``, not only in a checkout."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["glimpse_env*", "agents*"]), "agents.zoo_files"],
    package_dir={"agents.zoo_files": "models"},
    package_data={
        "agents.zoo_files": ["*.safetensors", "*.json"],
        "glimpse_env": ["py.typed"],
        "agents": ["py.typed", "targets.json"],
    },
)
