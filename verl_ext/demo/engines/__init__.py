"""Stage 3 of the demo: the GRPO engines, side by side behind one interface (``base.py``).

``trl.py`` trains in this process with TRL's ``GRPOTrainer``; ``verl.py`` launches veRL 0.9.1's own trainer
on verl-ext's CPU backend. ``registry.py`` names them for ``--engine``: adding an engine is one module here
and one entry there.
"""
