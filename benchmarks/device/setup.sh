# There, at the start of every call: `source benchmarks/device/setup.sh`. Installs the carried
# wheels (once per machine) where Python finds them, and points the library at the carried MNIST.
# Made by benchmarks/device/prepare.sh; see benchmarks/device/README.md.
site=/tmp/glimpse-site
if [ ! -d "$site/gymnasium" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" \
        .device/wheels/*.whl || return 1
fi
export PYTHONPATH="$site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export GLIMPSE_ENV_DATA="$PWD/.device/mnist" PYTHONUNBUFFERED=1
