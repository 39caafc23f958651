"""verl-ext: label-free RL rewards for math reasoning, for stock veRL 0.9 and TRL."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("verl-ext")  # the one version string: pyproject.toml's, as installed
except PackageNotFoundError:  # a source tree on sys.path without an install (`pip install -e .` makes one)
    __version__ = "0+unknown"
