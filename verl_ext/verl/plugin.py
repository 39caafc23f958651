"""Loaded by veRL itself (``import verl`` walks the ``verl.plugins`` entry points) in the driver and in
every Ray worker: importing the managers registers them with veRL's reward-manager registry, and importing
loss_agg registers the release's (veRL 0.2) policy loss with veRL's policy-loss registry."""

from verl_ext.verl import loss_agg, managers  # noqa: F401
