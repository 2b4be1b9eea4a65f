"""After a plain (not editable) ``pip install`` of the wheel, zoo models load by name: the zoo
ships as package data (``setup.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from agents import zoo

REPO = Path(__file__).resolve().parents[1]
NAME = "ram-cluttered60-6g"


def test_zoo_models_load_by_name_from_an_installed_wheel(tmp_path):
    if not (REPO / "models" / f"{NAME}.safetensors").is_file():
        pytest.fail(f"the shipped zoo lacks {NAME}")
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", wheels, REPO],
                   check=True, cwd=tmp_path, capture_output=True)  # fmt: skip
    (wheel,) = wheels.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:  # the licence travels with the wheel
        assert any(name.endswith("licenses/LICENSE") for name in archive.namelist())
    subprocess.run([*pip, "install", "--no-deps", "--target", site, wheel], check=True,
                   capture_output=True)  # fmt: skip
    script = (
        "import agents, agents.zoo as zoo\n"
        "print(agents.__file__)\n"
        "print(zoo.models_dir())\n"
        f"greedy, _ = zoo.load({NAME!r}).evaluate('test', 100)\n"
        "print(greedy.errors)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != zoo.MODELS_ENV_VAR}
    env["PYTHONPATH"] = str(site)
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    package, models, errors = done.stdout.split()
    assert Path(package).is_relative_to(site) and Path(models).is_relative_to(site)
    here, _ = zoo.load(REPO / "models" / f"{NAME}.safetensors").evaluate("test", 100)
    assert int(errors) == here.errors
