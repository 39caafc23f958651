"""Thin adapters from other trainers to the reward library ``verl_ext.rewards`` (TRL: ``verl_ext.integrations.trl``)."""
