"""verl-ext: label-free RL rewards for math reasoning, for stock veRL 0.9 and TRL."""

from importlib.metadata import version

__version__ = version("verl-ext")
