"""Safe reading of weight files, and the fingerprint that ties weights to their card.

Every file this project reads back is read without running code from it. Zoo models are
``safetensors`` files (:func:`load_safetensors`: a JSON header and raw tensor bytes, no pickle).
Training checkpoints, SB3 policy parameters and zoo files of the first format (``.pt``) are
loaded with ``torch.load(..., weights_only=True)``: tensors, plain containers and numbers only.
A file that would need to run code to load (a crafted pickle, a full pickled object) is refused
with one :class:`UnsafeFileError` line; nothing in it is executed.

:func:`state_dict_sha256` fingerprints a model's parameters independently of how the file was
written (key order, zip layout, pickle protocol): it hashes each tensor's name, dtype, shape and
bytes in key order. Checkpoints and zoo files carry it, zoo cards repeat it, and loading checks it,
so a file whose weights were altered or corrupted is an error rather than a silently different
result. (It guards against accidents and mismatched files, not against someone who rewrites the
file and the card together.)
"""

from __future__ import annotations

import hashlib
import os
import pickle
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors import safe_open as _safe_open


class UnsafeFileError(ValueError):
    """The file needs arbitrary code to load (it is not plain tensors and containers)."""


class WeightsMismatchError(ValueError):
    """The weights do not match the fingerprint recorded for them."""


def state_dict_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 hex digest of a state dict: names, dtypes, shapes and raw bytes, in key order."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name]
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"state dict entry {name!r} is a {type(tensor).__name__}, not a tensor")
        data = tensor.detach().to("cpu").contiguous().reshape(-1)  # 0-d tensors too
        digest.update(name.encode("utf8") + b"\0")
        digest.update(f"{data.dtype}|{tuple(tensor.shape)}".encode() + b"\0")
        digest.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return digest.hexdigest()


#: What torch.load raises on a file that is not a torch file: a text file reaches the legacy
#: unpickler (``KeyError: 101``), a truncated zip raises from the archive reader, and so on.
_UNREADABLE = (
    RuntimeError, EOFError, zipfile.BadZipFile, OSError, AttributeError, SafetensorError,
    KeyError, IndexError, TypeError, ValueError, UnicodeDecodeError,
)  # fmt: skip


def safe_load(path: str | os.PathLike, what: str, map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` with one clear error per failure.

    Args:
        path: the file.
        what: what the file should be, for messages ("checkpoint", "zoo model", ...).
        map_location: as for :func:`torch.load`.

    Raises:
        FileNotFoundError: no file at ``path``.
        UnsafeFileError: the file holds objects other than tensors and plain containers (its
            code was not run).
        ValueError: the file is not a readable torch file (corrupt, truncated, another format).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {what} at {path}")
    try:
        with warnings.catch_warnings():  # "Detected pickle protocol 4": the refusal says enough
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        lines = [line for line in str(error).splitlines() if "unsupported" in line.lower()]
        if not any("global" in line.lower() for line in lines):  # not a pickle of objects
            raise ValueError(
                f"{path} is not a readable {what} (corrupt, truncated or another format)"
            ) from None
        detail = f" ({lines[0].strip()})" if lines else ""
        raise UnsafeFileError(
            f"refusing to load {path}: it is not a plain {what} (tensors and plain values "
            f"only); nothing in it was run{detail}"
        ) from None
    except _UNREADABLE as error:
        raise ValueError(
            f"{path} is not a readable {what} (corrupt, truncated or another format): {error}"
        ) from None


#: The first bytes of every file ``torch.save`` writes (a zip archive).
_ZIP_MAGIC = b"PK"


def is_safetensors(path: str | os.PathLike) -> bool:
    """Whether ``path`` starts like a safetensors file: an 8-byte little-endian header length
    that fits in the file, then the header's JSON object."""
    path = Path(path)
    try:
        with path.open("rb") as stream:
            head = stream.read(9)
        size = path.stat().st_size
    except OSError:
        return False
    if len(head) < 9 or head[:2] == _ZIP_MAGIC:
        return False
    return head[8:9] == b"{" and 8 + int.from_bytes(head[:8], "little") <= size


def load_safetensors(
    path: str | os.PathLike, what: str
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors (on the CPU, as stored) and the text metadata of a safetensors file.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not a readable safetensors file (corrupt, truncated, another
            format).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {what} at {path}")
    try:
        with _safe_open(path, framework="pt", device="cpu") as stream:
            metadata = dict(stream.metadata() or {})
            tensors = {name: stream.get_tensor(name) for name in stream.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise ValueError(
            f"{path} is not a readable {what} (corrupt, truncated or another format): {error}"
        ) from None
    return tensors, metadata


def check_sha256(state: Mapping[str, torch.Tensor], expected: str, where: str) -> str:
    """Raise :class:`WeightsMismatchError` unless ``state`` hashes to ``expected``."""
    actual = state_dict_sha256(state)
    if actual != expected:
        raise WeightsMismatchError(
            f"{where}: the weights do not match their recorded sha256 "
            f"(recorded {expected[:16]}..., "
            f"found {actual[:16]}...): the file is corrupt or was altered"
        )
    return actual
