"""The engines ``--engine`` offers, by name: adding one is a module in this folder and a line here."""

from __future__ import annotations

from verl_ext.demo.engines.base import Engine
from verl_ext.demo.engines.trl import TRLEngine
from verl_ext.demo.engines.verl import VeRLEngine

ENGINES: dict[str, Engine] = {engine.name: engine for engine in (TRLEngine(), VeRLEngine())}


def get_engine(name: str) -> Engine:
    """The engine called ``name``; ValueError naming the known ones otherwise."""
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}: use one of {', '.join(ENGINES)}")
    return ENGINES[name]
