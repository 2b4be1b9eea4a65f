"""Bring a run directory back from a remote machine that returns only a few small files.

Some GPU leases hand back only what a command leaves in an output folder, with limits on the
number and the size of the files (here: 8 files of at most 16 MiB). A checkpoint is larger than
that, so it is cut into parts there and joined here:

    # there, at the end of the remote command
    python benchmarks/device/pack.py pack RUN_DIR "$OUT/run" --skip 'events.out.*'
    # here, on what came back
    python benchmarks/device/pack.py unpack BROUGHT/run runs/gpu/RUN_NAME

``pack`` copies the files directly in RUN_DIR (not its sub-folders) to OUT. A file larger than
``--max-mib`` is cut into numbered parts ``NAME.part000``, ``NAME.part001``, ... ``manifest.json``
records every file's size and SHA-256 and its parts. Before writing anything, ``pack`` checks
that the files, parts and manifest fit in ``--max-files``; if they do not, it names the largest
files so they can be skipped (``--skip GLOB``, repeatable).

``unpack`` joins the parts and checks every file against the manifest. A missing part or a
changed byte is an error that names the file; a truncated checkpoint is never written.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

MANIFEST = "manifest.json"
FORMAT = "glimpse-env-device-pack-v1"
MIB = 1 << 20


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(MIB), b""):
            digest.update(block)
    return digest.hexdigest()


def plan(run_dir: Path, max_bytes: int, skip: list[str]) -> list[tuple[Path, int]]:
    """``(file, number of parts)`` for every file of ``run_dir`` not matched by ``skip``."""
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run directory")
    files = sorted(
        p for p in run_dir.iterdir()
        if p.is_file() and not any(fnmatch.fnmatch(p.name, g) for g in skip)
    )  # fmt: skip
    return [(p, max(1, -(-p.stat().st_size // max_bytes))) for p in files]


def pack(run_dir: Path, out: Path, max_mib: float = 15.0, max_files: int = 8,
         skip: list[str] | None = None) -> dict:  # fmt: skip
    """Copy ``run_dir``'s files into ``out``, large ones in parts; returns the manifest.

    Raises:
        ValueError: the files, their parts and the manifest would exceed ``max_files``.
    """
    max_bytes = int(max_mib * MIB)
    if max_bytes < 1:
        raise ValueError(f"--max-mib must be positive, got {max_mib}")
    files = plan(run_dir, max_bytes, list(skip or []))
    count = sum(parts for _, parts in files) + 1
    if count > max_files:
        largest = sorted(files, key=lambda f: -f[0].stat().st_size)[:3]
        names = ", ".join(f"{p.name} ({p.stat().st_size / MIB:.1f} MiB)" for p, _ in largest)
        raise ValueError(
            f"{run_dir}: {count} files with the manifest, more than {max_files}; "
            f"skip some with --skip GLOB (largest: {names})"
        )
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict = {"format": FORMAT, "source": str(run_dir), "files": {}}
    for path, parts in files:
        names = [path.name] if parts == 1 else [f"{path.name}.part{i:03d}" for i in range(parts)]
        with path.open("rb") as stream:
            for name in names:
                (out / name).write_bytes(stream.read(max_bytes))
        manifest["files"][path.name] = {
            "bytes": path.stat().st_size, "sha256": _sha256(path), "parts": names,
        }  # fmt: skip
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def unpack(brought: Path, dest: Path) -> list[Path]:
    """Join and verify the files ``pack`` wrote to ``brought``, into ``dest``.

    Raises:
        FileNotFoundError: no manifest, or a part is missing.
        ValueError: a joined file's size or SHA-256 differs from the manifest's.
    """
    manifest_path = brought / MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{manifest_path}: no manifest (was this folder made by pack?)")
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{manifest_path}: format {manifest.get('format')!r}, expected {FORMAT}")
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for name, entry in manifest["files"].items():
        missing = [p for p in entry["parts"] if not (brought / p).is_file()]
        if missing:
            raise FileNotFoundError(f"{brought}: {name} lacks part(s) {missing}")
        target = dest / name
        partial = target.with_name(target.name + ".partial")
        with partial.open("wb") as stream:
            for part in entry["parts"]:
                with (brought / part).open("rb") as piece:
                    shutil.copyfileobj(piece, stream)
        size, digest = partial.stat().st_size, _sha256(partial)
        if size != entry["bytes"] or digest != entry["sha256"]:
            partial.unlink()
            raise ValueError(
                f"{name}: joined {size} bytes with SHA-256 {digest[:12]}..., the manifest says "
                f"{entry['bytes']} bytes, {entry['sha256'][:12]}...; the parts are damaged"
            )
        os.replace(partial, target)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    there = verbs.add_parser("pack", help="there: copy a run's files to OUT, large ones in parts")
    there.add_argument("run_dir", type=Path)
    there.add_argument("out", type=Path)
    there.add_argument("--max-mib", type=float, default=15.0, help="largest file (default 15)")
    there.add_argument("--max-files", type=int, default=8, help="most files (default 8)")
    there.add_argument("--skip", action="append", default=[], metavar="GLOB")
    here = verbs.add_parser("unpack", help="here: join the parts and check every file")
    here.add_argument("brought", type=Path)
    here.add_argument("dest", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.verb == "pack":
            manifest = pack(args.run_dir, args.out, args.max_mib, args.max_files, args.skip)
            for name, entry in manifest["files"].items():
                print(f"{name}: {entry['bytes']:,} bytes in {len(entry['parts'])} file(s)")
        else:
            for path in unpack(args.brought, args.dest):
                print(f"{path} ({path.stat().st_size:,} bytes, SHA-256 checked)")
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
