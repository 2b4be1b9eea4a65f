#!/usr/bin/env bash
# Here, before the first call to a lent GPU machine: fill .device/ (ignored by git) with what the
# machine lacks and cannot download (it has no network): the wheels of gymnasium and
# Farama-Notifications for its Python 3.12, and the MNIST files. Name ".device" in the call's
# carry list. See benchmarks/device/README.md.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
data=${GLIMPSE_ENV_DATA:?set GLIMPSE_ENV_DATA to the folder holding the MNIST .gz files}
gym_version=$(python -c 'import gymnasium; print(gymnasium.__version__)')
mkdir -p "$root/.device/wheels" "$root/.device/mnist"
python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp -d "$root/.device/wheels" \
    "gymnasium==$gym_version" farama-notifications
for name in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte \
    t10k-labels-idx1-ubyte; do
    cp "$data/$name.gz" "$root/.device/mnist/"
done
du -sh "$root/.device"
