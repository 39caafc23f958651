"""verl-ext: label-free RL rewards (format, length, correctness) for stock veRL 0.9 and TRL."""

__version__ = "0.1.0"
