"""A sweep on a two-node Ray cluster, on this machine, as ``docs/sweeps.md`` describes it.

Ray advertises the machine's own address, so the cluster runs inside a network namespace that
has only loopback (``unshare --net``, then ``ip link set lo up``, which needs root): there
``ray start --node-ip-address=127.0.0.1`` gives two nodes at 127.0.0.1 and no traffic leaves the
machine. Each node offers one CPU and each trial asks for one, so the two trials run on the two
nodes at once; the sweep's ``trials.json`` records the node of each.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

SCRIPT = """
set -e
ip link set lo up
export RAY_AUTH_MODE=token RAY_DEDUP_LOGS=0
ray start --head --node-ip-address=127.0.0.1 --port=6399 --num-cpus=1 \\
    --include-dashboard=false --disable-usage-stats > "$1/head.log" 2>&1
ray start --address=127.0.0.1:6399 --node-ip-address=127.0.0.1 --num-cpus=1 \\
    --disable-usage-stats > "$1/node.log" 2>&1
status=0
"$2" train/sweep.py --agent ram --preset ram-quickstart --space 'lr=grid(3e-3,1e-3)' \\
    --set env_id=MNIST-v0 --set hidden=16 --set glimpse_hidden=8 --set location_hidden=8 \\
    --set batch_size=16 --set num_glimpses=3 --updates 20 --eval-every 10 \\
    --eval-canvases 100 --num-samples 1 --cpus-per-trial 1 --verbose 0 \\
    --address 127.0.0.1:6399 --storage "$1/sweeps" --name two-nodes || status=$?
ray stop --force > /dev/null 2>&1 || true
exit $status
"""


def _can_isolate() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None or os.geteuid() != 0:
        return False
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _can_isolate(), reason="needs root, unshare and ip for a loopback netns")
def test_a_sweep_runs_its_trials_on_both_nodes_of_a_cluster(tmp_path):
    pytest.importorskip("ray", reason="the sweep extra (ray[tune]) is not installed")
    ray_bin = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{ray_bin}:{os.environ['PATH']}",
           "GLIMPSE_ENV_SWEEP_MANIFESTS": str(tmp_path / "manifests")}  # fmt: skip
    done = subprocess.run(
        ["unshare", "--net", "bash", "-c", SCRIPT, "sweep", str(tmp_path), sys.executable],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    logs = "".join(p.read_text()[-2000:] for p in tmp_path.glob("*.log"))
    assert done.returncode == 0, done.stderr[-3000:] + logs
    trials = json.loads((tmp_path / "sweeps" / "two-nodes" / "trials.json").read_text())
    assert len(trials) == 2 and all(t["valid_error"] is not None for t in trials)
    assert len({t["node"] for t in trials}) == 2  # one trial on each node
