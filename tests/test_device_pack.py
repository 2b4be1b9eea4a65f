"""benchmarks/device/pack.py: a run cut into parts comes back byte for byte, or not at all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
KIB = 1024 / (1 << 20)  # one KiB in MiB, pack's unit


@pytest.fixture
def pack_module(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks" / "device"))
    import pack

    return pack


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "best.pt").write_bytes(os.urandom(5000))  # 5 parts of 1 KiB
    (run / "metrics.jsonl").write_text('{"update": 1}\n')
    (run / "events.out.tfevents.1").write_bytes(b"x" * 10)
    (run / "sub").mkdir()  # sub-folders are not packed
    (run / "sub" / "ignored.txt").write_text("no")
    return run


def test_round_trip_in_parts(pack_module, run_dir: Path, tmp_path: Path) -> None:
    out, dest = tmp_path / "out", tmp_path / "dest"
    manifest = pack_module.pack(run_dir, out, max_mib=KIB, skip=["events.out.*"])
    assert manifest["files"]["best.pt"]["parts"] == [f"best.pt.part{i:03d}" for i in range(5)]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["manifest.json", "metrics.jsonl"] + manifest["files"]["best.pt"]["parts"]
    )
    assert all(p.stat().st_size <= 1024 for p in out.iterdir() if p.name != "manifest.json")
    written = pack_module.unpack(out, dest)
    assert sorted(p.name for p in written) == ["best.pt", "metrics.jsonl"]
    for path in written:
        assert path.read_bytes() == (run_dir / path.name).read_bytes()


def test_refuses_more_files_than_allowed(pack_module, run_dir: Path, tmp_path: Path) -> None:
    # 5 parts + metrics + events + manifest = 8: one over a limit of 7
    with pytest.raises(ValueError, match=r"8 files .* more than 7.*best\.pt"):
        pack_module.pack(run_dir, tmp_path / "out", max_mib=KIB, max_files=7)
    assert not (tmp_path / "out").exists()  # nothing written


def test_damaged_or_missing_part_is_an_error(pack_module, run_dir, tmp_path: Path) -> None:
    out, dest = tmp_path / "out", tmp_path / "dest"
    pack_module.pack(run_dir, out, max_mib=KIB)
    part = out / "best.pt.part002"
    data = bytearray(part.read_bytes())
    data[0] ^= 0xFF
    part.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"best\.pt: joined 5000 bytes .* damaged"):
        pack_module.unpack(out, dest)
    assert not (dest / "best.pt").exists() and not (dest / "best.pt.partial").exists()
    part.unlink()
    with pytest.raises(FileNotFoundError, match=r"best.pt lacks part\(s\) \['best.pt.part002'\]"):
        pack_module.unpack(out, dest)


def test_command_line_errors_in_one_line(pack_module, tmp_path: Path, capsys) -> None:
    assert pack_module.main(["pack", str(tmp_path / "nope"), str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'nope'}: no such run directory"
    assert pack_module.main(["unpack", str(tmp_path), str(tmp_path / "dest")]) == 2
    assert "no manifest" in capsys.readouterr().err
