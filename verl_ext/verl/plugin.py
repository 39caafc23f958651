"""Loaded by veRL itself (``import verl`` walks the ``verl.plugins`` entry points) in the driver and in
every Ray worker: importing the managers registers them with veRL's reward-manager registry."""

from verl_ext.verl import managers  # noqa: F401
