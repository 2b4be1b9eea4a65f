"""MNIST: IDX reader, data-directory lookup and verified download.

Where the files are looked for, in order:

1. the ``data_dir`` argument, when given;
2. the directory named by the ``GLIMPSE_ENV_DATA`` environment variable, when set;
3. the user cache, ``$XDG_CACHE_HOME/glimpse_env/mnist`` (``~/.cache/glimpse_env/mnist``).

A directory counts when it holds the four standard files, gzipped (``train-images-idx3-ubyte.gz``)
or not (``train-images-idx3-ubyte``). When none does and ``download=True``, the files are fetched
from the public mirrors into the first of those directories, verified (official ``.gz`` MD5, or the
SHA-256 of the decompressed file) and moved into place atomically.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import urllib.error
import urllib.request
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glimpse_env.atomic import atomic_path

ENV_VAR = "GLIMPSE_ENV_DATA"

#: The four standard file stems, by (split, kind).
FILES: dict[tuple[str, str], str] = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}

#: MD5 of the official gzipped files.
GZ_MD5: dict[str, str] = {
    "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
}

#: SHA-256 of the decompressed files (identical for every faithful copy of MNIST).
RAW_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

#: The experiment splits (DeepMind's mnist-cluttered): ``(file split, first row, stop row)``.
#: The last 10,000 training digits are held out for validation, so that everything that decides
#: (evaluation during training, early stopping, tuning, model selection) never reads test digits.
SPLITS: dict[str, tuple[str, int, int]] = {
    "train": ("train", 0, 50_000),
    "valid": ("train", 50_000, 60_000),
    "test": ("test", 0, 10_000),
}

#: Public mirrors, tried in order. Each serves ``<stem>.gz``.
MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

# IDX type codes -> big-endian numpy dtypes.
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


@dataclass(frozen=True)
class MNISTSplit:
    """One MNIST split in memory.

    Attributes:
        images: ``(N, 28, 28)`` uint8, intensities 0-255, read-only.
        labels: ``(N,)`` uint8 class indices 0-9, read-only.
        source: directory the files were read from.
    """

    images: np.ndarray
    labels: np.ndarray
    source: Path

    def __len__(self) -> int:
        return len(self.labels)


def _read_bytes(path: Path) -> bytes:
    """Read a file, decompressing it when it is gzip (detected by its magic bytes)."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{path}: corrupt gzip stream ({exc})") from exc
    return raw


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a numpy array in native byte order.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: bad magic number, unknown type code, truncated or over-long data;
            the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(
            f"{path}: bad IDX magic number {data[:4].hex() or '(empty file)'}; "
            "expected 0x0000 followed by a type code and the number of dimensions"
        )
    type_code, ndim = data[2], data[3]
    if type_code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{type_code:02x}")
    if ndim == 0:
        raise ValueError(f"{path}: IDX header declares zero dimensions")
    header_end = 4 + 4 * ndim
    if len(data) < header_end:
        raise ValueError(f"{path}: truncated IDX header ({len(data)} bytes)")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(data) - header_end
    if actual < expected:
        raise ValueError(
            f"{path}: truncated IDX data: header declares shape {shape} "
            f"({expected} bytes) but only {actual} bytes follow"
        )
    if actual > expected:
        raise ValueError(
            f"{path}: IDX data longer than its header declares: shape {shape} "
            f"needs {expected} bytes, {actual} follow"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_end).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False)


def cache_dir() -> Path:
    """The user cache directory for MNIST (``$XDG_CACHE_HOME/glimpse_env/mnist``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "glimpse_env" / "mnist"


def candidate_dirs(data_dir: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """The directories searched for MNIST, in order, each with where it came from. An explicit
    ``data_dir`` is the only one: a directory the user named never silently falls back to
    ``$GLIMPSE_ENV_DATA`` or the cache."""
    if data_dir is not None:
        return [("data_dir argument", Path(data_dir).expanduser())]
    candidates: list[tuple[str, Path]] = []
    env_value = os.environ.get(ENV_VAR)
    if env_value:
        candidates.append((f"${ENV_VAR}", Path(env_value).expanduser()))
    candidates.append(("user cache", cache_dir()))
    return candidates


def _find_file(directory: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        path = directory / name
        if path.is_file():
            return path
    return None


def _complete(directory: Path) -> bool:
    return all(_find_file(directory, stem) is not None for stem in FILES.values())


def resolve_data_dir(
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    mirrors: Sequence[str] = MIRRORS,
) -> Path:
    """Return a directory holding the four MNIST files, downloading them if needed.

    Raises:
        FileNotFoundError: no searched directory has the files and the download was disabled or
            failed; the message lists every place looked and how to point the library at the files.
    """
    candidates = candidate_dirs(data_dir)
    for _, directory in candidates:
        if _complete(directory):
            return directory
    target = candidates[0][1]
    download_error = "download disabled"
    if download:
        try:
            download_mnist(target, mirrors=mirrors)
            return target
        except (OSError, ValueError) as exc:
            download_error = f"download into {target} failed: {exc}"
    looked = "; ".join(f"{directory} ({origin})" for origin, directory in candidates)
    raise FileNotFoundError(
        "MNIST files not found (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
        f"t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]) in: {looked} "
        f"({download_error}). Point the library at a directory holding them with data_dir=... "
        f"or `export {ENV_VAR}=/path/to/mnist`."
    )


def _verify(stem: str, gz_bytes: bytes, source: str) -> None:
    """Accept the official gz MD5 or, failing that, the SHA-256 of the decompressed bytes."""
    if hashlib.md5(gz_bytes).hexdigest() == GZ_MD5[stem]:
        return
    try:
        raw = gzip.decompress(gz_bytes)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{source}: not a valid gzip file ({exc})") from exc
    digest = hashlib.sha256(raw).hexdigest()
    if digest != RAW_SHA256[stem]:
        raise ValueError(
            f"{source}: checksum mismatch (gz md5 {hashlib.md5(gz_bytes).hexdigest()}, "
            f"decompressed sha256 {digest}; expected md5 {GZ_MD5[stem]} or sha256 "
            f"{RAW_SHA256[stem]})"
        )


def _atomic_write(path: Path, payload: bytes) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())


def download_mnist(
    target: str | os.PathLike, mirrors: Sequence[str] = MIRRORS, timeout_s: float = 60.0
) -> Path:
    """Download the four gzipped MNIST files into ``target``, verified and written atomically.

    Each file is tried on every mirror in turn; a file is written only after its checksum matched.
    Files already present are kept.

    Raises:
        OSError: no mirror served a file (the message lists each mirror's error).
        ValueError: a mirror served a file whose checksum did not match.
    """
    target = Path(target)
    for stem in FILES.values():
        if _find_file(target, stem) is not None:
            continue
        errors = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + stem + ".gz"
            try:
                with urllib.request.urlopen(url, timeout=timeout_s) as response:
                    payload = response.read()
                _verify(stem, payload, url)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                errors.append(f"{url}: {exc}")
                continue
            _atomic_write(target / (stem + ".gz"), payload)
            break
        else:
            raise OSError(f"could not download {stem}.gz: " + "; ".join(errors))
    return target


@functools.lru_cache(maxsize=4)
def _load_cached(images_path: Path, labels_path: Path, _mtimes: tuple[float, float]) -> MNISTSplit:
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"{images_path}: expected uint8 images of shape (N, rows, cols), "
            f"got {images.dtype} {images.shape}"
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise ValueError(f"{labels_path}: expected uint8 labels of shape (N,), got {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(
            f"image/label count mismatch: {images_path} has {len(images)} images but "
            f"{labels_path} has {len(labels)} labels"
        )
    if labels.max(initial=0) > 9:
        raise ValueError(f"{labels_path}: labels must be 0-9, found {int(labels.max())}")
    images.setflags(write=False)
    labels.setflags(write=False)
    return MNISTSplit(images=images, labels=labels, source=images_path.parent)


def load_mnist(
    split: str = "train", data_dir: str | os.PathLike | None = None, download: bool = True
) -> MNISTSplit:
    """Load one experiment split (see :data:`SPLITS`).

    ``"train"``: training digits 0-49,999; ``"valid"``: training digits 50,000-59,999;
    ``"test"``: the 10,000 test digits. Arrays are cached per process and read-only (the two
    splits of the training file are views of one copy), so many environments share them.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown MNIST split {split!r}; expected one of {list(SPLITS)}")
    file_split, start, stop = SPLITS[split]
    full = load_mnist_file(file_split, data_dir, download)
    if len(full) < stop:
        raise ValueError(
            f"{full.source}: the {file_split} file has {len(full)} digits; split {split!r} "
            f"needs rows [{start}, {stop})"
        )
    return MNISTSplit(
        images=full.images[start:stop], labels=full.labels[start:stop], source=full.source
    )


def load_mnist_file(
    file_split: str = "train", data_dir: str | os.PathLike | None = None, download: bool = True
) -> MNISTSplit:
    """Load one MNIST file pair whole (``"train"``: 60,000 digits, ``"test"``: 10,000)."""
    if file_split not in ("train", "test"):
        raise ValueError(f"unknown MNIST file {file_split!r}; expected 'train' or 'test'")
    directory = resolve_data_dir(data_dir, download=download)
    images_path = _find_file(directory, FILES[(file_split, "images")])
    labels_path = _find_file(directory, FILES[(file_split, "labels")])
    assert images_path is not None and labels_path is not None  # resolve_data_dir checked
    mtimes = (images_path.stat().st_mtime, labels_path.stat().st_mtime)
    return _load_cached(images_path.resolve(), labels_path.resolve(), mtimes)
