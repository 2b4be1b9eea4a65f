"""Reference agents (RAM, DRAM, EDRAM) and baselines built on :mod:`glimpse_env`.

The agents themselves land with their own issues; this package already ships so that
``pip install glimpse-env`` provides both top-level packages from the start.
"""
