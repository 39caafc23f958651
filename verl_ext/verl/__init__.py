"""veRL 0.9 adapters: reward-loop managers built from the preset registry (``managers.py``) and the
plugin module that veRL's ``verl.plugins`` entry point loads in every process (``plugin.py``)."""
