"""The files of an SB3 run: ``model.zip`` / ``best.zip`` with the checkpoint state inside,
written atomically, and read back safely (:func:`load_model`: the algorithm is built from the
run's config and only the parameter tensors of the zip are loaded, ``weights_only=True``;
never SB3's ``load``, whose ``data`` entry is cloudpickle and runs code)."""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from agents.runs.checkpoint import write_error
from agents.sb3.algorithms import make_model, make_vec_env
from agents.sb3.config import BaselineConfig
from agents.weights import UnsafeFileError, WeightsMismatchError, state_dict_sha256
from glimpse_env.atomic import atomic_path, write_json_atomic

CHECKPOINT_FILE = "checkpoint.json"
#: The SB3 run's latest checkpoint and its lowest-validation-error one (``checkpoint.pt`` and
#: ``best.pt`` of the other trainers).
LATEST, BEST = "model.zip", "best.zip"


#: The checkpoint state's entry inside ``model.zip``: the zip is the checkpoint, one file.
STATE_ENTRY = "glimpse_checkpoint.json"


def save_checkpoint(
    model: BaseAlgorithm,
    run_dir: Path,
    wall_clock_s: float,
    best_valid: dict[str, Any] | None = None,
    name: str = LATEST,
) -> None:
    """``run_dir/<name>`` (``model.zip``, or ``best.zip``) with the state ``{"timesteps",
    "wall_clock_s", "policy_sha256", "best_valid"}`` inside it (entry :data:`STATE_ENTRY`),
    written to a temporary name and renamed: one file, so a crash leaves the previous checkpoint
    whole. For ``model.zip``, ``checkpoint.json`` beside it is a copy for people and older
    readers (:func:`read_checkpoint_state` prefers the zip's)."""
    best = dict(best_valid or {})
    if not math.isfinite(best.get("error_pct", 0.0)):
        best = {}
    state = {
        "timesteps": int(model.num_timesteps),
        "wall_clock_s": round(wall_clock_s, 1),
        "policy_sha256": state_dict_sha256(model.policy.state_dict()),
        "best_valid": best,
    }
    save_model(model, run_dir / name, state)
    if name == LATEST:
        write_json_atomic(run_dir / CHECKPOINT_FILE, state, indent=None)


def save_model(
    model: BaseAlgorithm, path: str | os.PathLike, state: dict[str, Any] | None = None
) -> Path:
    """``model.save`` to a temporary name (with ``state`` as the zip entry :data:`STATE_ENTRY`),
    then rename: an interrupted or failed save keeps the old file and leaves no temporary.

    Raises:
        OSError: one clear line (``no space left on device while writing ...``).
    """
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            staging = tmp.with_suffix(".zip")  # SB3 appends .zip to names without it
            try:
                model.save(staging)
                if state is not None:
                    with zipfile.ZipFile(staging, "a") as archive:
                        archive.writestr(STATE_ENTRY, json.dumps(state))
                staging.replace(tmp)
            finally:
                staging.unlink(missing_ok=True)
    except (OSError, RuntimeError, zipfile.BadZipFile) as error:
        raise write_error(path, error) from None
    return path


def read_checkpoint_state(model_zip: Path) -> dict[str, Any]:
    """The checkpoint state of a saved ``model_zip``: its entry :data:`STATE_ENTRY`, else (runs
    saved before it was embedded) the ``checkpoint.json`` beside it; one clear error if neither
    is readable."""
    run_dir, state_path = model_zip.parent, model_zip.parent / CHECKPOINT_FILE
    state: Any = None
    try:
        with zipfile.ZipFile(model_zip) as archive:
            if STATE_ENTRY in archive.namelist():
                state = json.loads(archive.read(STATE_ENTRY))
    except FileNotFoundError:
        raise FileNotFoundError(f"{model_zip} is missing: nothing to resume in {run_dir}") from None
    except (zipfile.BadZipFile, OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{model_zip} is not a readable checkpoint: {error}") from None
    if state is None:
        if not state_path.is_file():
            raise FileNotFoundError(f"{state_path} is missing: nothing to resume in {run_dir}")
        try:
            state = json.loads(state_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{state_path} is not readable JSON: {error}") from None
    keys = ("timesteps", "wall_clock_s")
    if not isinstance(state, dict) or any(key not in state for key in keys):
        raise ValueError(f"the checkpoint state of {run_dir} is not an object with {list(keys)}")
    return state


def _read_zip_tensors(archive: zipfile.ZipFile, name: str, path: Path) -> Any:
    """``torch.load(weights_only=True)`` of one entry of an SB3 zip."""
    try:
        data = archive.read(name)
    except KeyError:
        raise ValueError(f"{path} has no {name!r}: not a saved SB3 model") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise UnsafeFileError(
            f"refusing to load {path}: its {name!r} is not plain tensors; nothing in it was run"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path}: {name!r} is not readable: {error}") from None


def load_model(
    path: str | os.PathLike,
    config: BaselineConfig,
    env: VecEnv | None = None,
    tensorboard_log: str | None = None,
    with_optimizer: bool = False,
) -> BaseAlgorithm:
    """A baseline built from ``config`` with the parameters saved in ``path`` (a ``model.zip``).

    Only ``policy.pth`` (and, with ``with_optimizer``, ``policy.optimizer.pth``) are read, with
    ``weights_only=True``; the zip's pickled ``data`` is never opened. When the zip's directory
    has a ``checkpoint.json`` recording ``policy_sha256``, the parameters must match it.

    Raises:
        FileNotFoundError: no file at ``path``.
        agents.weights.UnsafeFileError: an entry would run code to load (nothing was run).
        agents.weights.WeightsMismatchError: the parameters differ from the recorded sha256.
        ValueError: not a readable SB3 zip, or parameters that do not fit ``config``'s model.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no saved model at {path}")
    try:
        with zipfile.ZipFile(path) as archive:
            policy = _read_zip_tensors(archive, "policy.pth", path)
            optimizer = (
                _read_zip_tensors(archive, "policy.optimizer.pth", path) if with_optimizer else None
            )
            embedded = STATE_ENTRY in archive.namelist()
    except zipfile.BadZipFile as error:
        raise ValueError(f"{path} is not a saved SB3 model (zip): {error}") from None
    recorded, where = None, path.parent / CHECKPOINT_FILE
    if embedded:  # the checkpoint's own state: the zip's entry
        recorded, where = read_checkpoint_state(path).get("policy_sha256"), path
    elif path.name == "model.zip" and where.is_file():
        recorded = read_checkpoint_state(path).get("policy_sha256")
    if recorded is not None and state_dict_sha256(policy) != recorded:
        raise WeightsMismatchError(
            f"{path}: its parameters do not match the policy_sha256 in {where}: the file is "
            "corrupt or was altered"
        )
    if env is None:
        env, _ = make_vec_env(config, config.num_envs, "valid")
    model = make_model(config, env, tensorboard_log)
    try:
        model.policy.load_state_dict(policy)
        if optimizer is not None:
            model.policy.optimizer.load_state_dict(optimizer)
    except (RuntimeError, ValueError, KeyError) as error:
        raise ValueError(
            f"{path}: the saved parameters do not fit the model of its config.json: {error}"
        ) from None
    return model
