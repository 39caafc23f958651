"""Loaded by veRL itself (``import verl`` walks the ``verl.plugins`` entry points) in the driver and in
every Ray worker: importing the managers registers them with veRL's reward-manager registry, and importing
loss_agg registers the release's (veRL 0.2) policy loss with veRL's policy-loss registry.

Also, in every process: veRL's TRL check is narrowed so that TRL >= 1.16 (no value-head class) no longer
crashes veRL's workers (:mod:`verl_ext.verl.trl_compat`); and with ``VERL_PLATFORM=cpu`` only, the CPU
backend is loaded (:mod:`verl_ext.verl.cpu`). veRL swallows a plugin's exceptions, so a CPU backend that
cannot load is reported on stderr and left as a platform that raises the same error when veRL selects it."""

import sys

from verl_ext.verl import trl_compat

trl_compat.apply()

from verl_ext.verl import cpu, loss_agg, managers  # noqa: E402, F401

if cpu.selected():
    try:
        cpu.enable()
    except Exception as error:
        sys.stderr.write(f"verl-ext: the CPU backend (VERL_PLATFORM=cpu) cannot load: {error}\n")
        cpu.register_failed_platform(error)
        raise
