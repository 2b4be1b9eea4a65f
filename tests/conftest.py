"""Shared fixtures. Tests run on the real MNIST files: set GLIMPSE_ENV_DATA to their directory
(``.ci/run`` does; on a development machine ``../shared/data/mnist`` is used when it exists)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_SHARED = REPO.parent / "shared" / "data" / "mnist"
if not os.environ.get("GLIMPSE_ENV_DATA") and _SHARED.is_dir():
    os.environ["GLIMPSE_ENV_DATA"] = str(_SHARED)


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    value = os.environ.get("GLIMPSE_ENV_DATA")
    if not value or not Path(value).is_dir():
        raise RuntimeError(
            "The tests need the real MNIST files: export GLIMPSE_ENV_DATA=/path/to/mnist"
        )
    return Path(value)


@pytest.fixture(scope="session")
def mnist_train(mnist_dir):
    from glimpse_env.data.mnist import load_mnist

    return load_mnist("train", mnist_dir)


@pytest.fixture(scope="session")
def mnist_test(mnist_dir):
    from glimpse_env.data.mnist import load_mnist

    return load_mnist("test", mnist_dir)


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch) -> Path:
    """No GLIMPSE_ENV_DATA and an empty user cache, for lookup/download tests."""
    monkeypatch.delenv("GLIMPSE_ENV_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    return tmp_path / "xdg-cache" / "glimpse_env" / "mnist"
