"""The documentation site builds with no warnings and its pages render in a real browser.

The site is built here with ``sphinx-build -W`` (as ``.ci/run`` does), then the home page and an
environment page are opened in headless Chromium (Debian's ``chromium``; ``.ci/run`` installs it
when missing): the rendered DOM must hold the page's title, the table of ids and an image whose
file the browser could load. Without a Chromium the rendering test is skipped with that reason,
unless ``GLIMPSE_ENV_REQUIRE_BROWSER=1`` (``.ci/run`` sets it, so CI always renders).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
IDS = ("ClutteredMNIST-v0", "ClutteredMNIST100-v0", "TranslatedMNIST-v0", "MNIST-v0")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-E", "-q", "-W", "--keep-going", "-b", "html",
         str(REPO / "docs"), str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, f"the site has warnings:\n{done.stderr}"
    return out


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    message = "headless Chromium is needed: apt-get install chromium (.ci/run does)"
    if os.environ.get("GLIMPSE_ENV_REQUIRE_BROWSER") == "1":
        raise RuntimeError(message)
    pytest.skip(message)


def _rendered(page: Path) -> str:
    """The page's DOM after Chromium loaded and laid it out."""
    done = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=3000",
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("name, title", [("index", "glimpse-env"),
                                         ("single-digit", "Single-digit tasks")])  # fmt: skip
def test_pages_render_with_title_ids_table_and_an_image(site, name, title):
    page = site / f"{name}.html"
    dom = _rendered(page)
    assert f"<title>{title}" in dom
    assert "<table" in dom and all(f"{env_id}</span>" in dom for env_id in IDS), name
    images = re.findall(r'<img[^>]*\ssrc="([^"]+)"', dom)
    assert images, f"{name} has no image"
    assert all((page.parent / src).is_file() for src in images), images


def test_the_api_reference_documents_the_public_entry_points(site):
    text = (site / "api.html").read_text()
    for name in ("ClutteredMNISTEnv", "GlimpseVectorEnv", "agents.load", "evaluate_policy",
                 "TrainConfig", "read_final"):  # fmt: skip
        assert name in text, name


def test_the_readme_is_short_and_every_generated_section_is_current():
    assert len((REPO / "README.md").read_text().splitlines()) <= 200
    for script in ("zoo_table.py", "zoo_float16.py", "speed_table.py", "preset_table.py",
                   "comparison.py", "colour_result.py"):  # fmt: skip
        done = subprocess.run(
            [sys.executable, f"benchmarks/{script}", "--check"], cwd=REPO, capture_output=True,
            text=True,
        )  # fmt: skip
        assert done.returncode == 0, f"{script}: {done.stdout}{done.stderr}"


def test_the_environments_need_neither_tensorboard_nor_safetensors():
    """``pip install glimpse-env`` leaves out the ``train`` extra: the envs must not import it."""
    script = (
        "import sys\n"
        "for name in ('tensorboard', 'safetensors', 'torch.utils.tensorboard'):\n"
        "    sys.modules[name] = None  # importing it now fails\n"
        "import gymnasium as gym, glimpse_env\n"
        "env = gym.make('ClutteredMNIST-v0')\n"
        "obs, info = env.reset(seed=0)\n"
        "venv = gym.make_vec('ClutteredMNIST-v0', num_envs=2)\n"
        "venv.reset(seed=0)\n"
        "print(obs['glimpse'].shape)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(3, 12, 12)"
