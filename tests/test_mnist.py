"""MNIST IDX reading, data-directory lookup and verified download, on the real files."""

from __future__ import annotations

import gzip
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from glimpse_env.data import mnist
from glimpse_env.data.mnist import FILES, load_mnist, read_idx, resolve_data_dir

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_real_mnist_shapes_counts_and_statistics(mnist_dir, mnist_test):
    from glimpse_env.data.mnist import load_mnist_file

    mnist_train = load_mnist_file("train", mnist_dir)
    assert mnist_train.images.shape == (60000, 28, 28) and mnist_train.images.dtype == np.uint8
    assert mnist_test.images.shape == (10000, 28, 28)
    assert np.bincount(mnist_train.labels, minlength=10).tolist() == TRAIN_COUNTS
    assert np.bincount(mnist_test.labels, minlength=10).tolist() == TEST_COUNTS
    assert mnist_train.images.mean() == pytest.approx(33.318, abs=1e-3)
    assert mnist_train.labels[:5].tolist() == [5, 0, 4, 1, 9]


def test_reads_uncompressed_idx_identically(mnist_dir, tmp_path):
    raw = tmp_path / "t10k-labels-idx1-ubyte"
    raw.write_bytes(gzip.decompress((mnist_dir / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    np.testing.assert_array_equal(read_idx(raw), read_idx(mnist_dir / "t10k-labels-idx1-ubyte.gz"))


def _idx(shape, payload: bytes, type_code=0x08) -> bytes:
    return bytes([0, 0, type_code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + payload


def test_bad_magic_names_the_file(tmp_path):
    path = tmp_path / "bad.idx"
    path.write_bytes(b"\x12\x34\x08\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match=r"bad\.idx.*magic"):
        read_idx(path)


def test_truncated_data_names_the_file(tmp_path):
    path = tmp_path / "short.idx"
    path.write_bytes(_idx((10, 28, 28), b"\x00" * 100))
    with pytest.raises(ValueError, match=r"short\.idx.*truncated"):
        read_idx(path)


def test_truncated_gzip_is_reported(mnist_dir, tmp_path):
    path = tmp_path / "cut.gz"
    path.write_bytes((mnist_dir / "t10k-labels-idx1-ubyte.gz").read_bytes()[:1000])
    with pytest.raises(ValueError, match=r"cut\.gz"):
        read_idx(path)


def test_image_label_count_mismatch_names_both_files(mnist_dir, tmp_path):
    for stem in FILES.values():
        shutil.copy(mnist_dir / f"{stem}.gz", tmp_path / f"{stem}.gz")
    labels = read_idx(mnist_dir / "t10k-labels-idx1-ubyte.gz")[:9999]
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx((9999,), labels.tobytes()))
    with pytest.raises(ValueError, match=r"t10k-images.*10000.*t10k-labels.*9999"):
        load_mnist("test", tmp_path, download=False)


def _link_files(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for stem in FILES.values():
        (target / f"{stem}.gz").symlink_to(source / f"{stem}.gz")


def test_lookup_order_argument_then_env_var_then_cache(
    mnist_dir, tmp_path, isolated_cache, monkeypatch
):
    explicit, from_env = tmp_path / "explicit", tmp_path / "env"
    for d in (explicit, from_env, isolated_cache):
        _link_files(mnist_dir, d)
    monkeypatch.setenv("GLIMPSE_ENV_DATA", str(from_env))
    assert resolve_data_dir(explicit, download=False) == explicit
    assert resolve_data_dir(None, download=False) == from_env
    monkeypatch.delenv("GLIMPSE_ENV_DATA")
    assert resolve_data_dir(None, download=False) == isolated_cache
    # An incomplete explicit directory is an error: it never falls through to another place.
    (explicit / "train-images-idx3-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="explicit \\(data_dir argument\\)"):
        resolve_data_dir(explicit, download=False)


def test_offline_without_data_says_where_it_looked(tmp_path, isolated_cache):
    empty = tmp_path / "empty"
    with pytest.raises(FileNotFoundError) as err:
        resolve_data_dir(empty, download=True, mirrors=[(tmp_path / "no-mirror").as_uri()])
    message = str(err.value)
    assert str(empty) in message and str(isolated_cache) not in message  # only where asked
    assert "GLIMPSE_ENV_DATA" in message and "data_dir" in message
    with pytest.raises(FileNotFoundError) as err:
        resolve_data_dir(None, download=False)
    assert str(isolated_cache) in str(err.value)


def test_download_verifies_and_writes_atomically(mnist_dir, tmp_path, isolated_cache):
    # A local "mirror": the shared image files differ from the official .gz (so the MD5 check
    # fails) but decompress to the official bytes, so the SHA-256 check accepts them.
    found = resolve_data_dir(None, download=True, mirrors=[mnist_dir.as_uri() + "/"])
    assert found == isolated_cache
    assert sorted(p.name for p in found.iterdir()) == sorted(f"{s}.gz" for s in FILES.values())
    assert len(load_mnist("test", found, download=False)) == 10000


def test_download_rejects_a_corrupt_file_and_leaves_nothing(mnist_dir, tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for stem in FILES.values():
        shutil.copy(mnist_dir / f"{stem}.gz", mirror / f"{stem}.gz")
    labels = gzip.decompress((mirror / "train-labels-idx1-ubyte.gz").read_bytes())
    tampered = labels[:-1] + bytes([(labels[-1] + 1) % 10])
    (mirror / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(tampered))
    target = tmp_path / "target"
    with pytest.raises(OSError, match="checksum mismatch"):
        mnist.download_mnist(target, mirrors=[mirror.as_uri()])
    assert not (target / "train-labels-idx1-ubyte.gz").exists()
    assert not [p for p in target.iterdir() if p.name.startswith(".")]  # no temp files left


def test_unknown_split_is_an_error(mnist_dir):
    with pytest.raises(ValueError, match="unknown MNIST split 'validation'"):
        load_mnist("validation", mnist_dir)


def test_an_explicit_data_dir_never_falls_back_to_the_environment(tmp_path, mnist_dir, monkeypatch):
    monkeypatch.setenv("GLIMPSE_ENV_DATA", str(mnist_dir))  # has the files
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="data_dir argument"):
        load_mnist("test", empty, download=False)
    assert len(load_mnist("test", download=False)) == 10_000  # the variable still works alone
