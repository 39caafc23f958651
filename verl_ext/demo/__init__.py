"""``verl-ext demo``: label-free GRPO on a tiny model, on CPU, through TRL (see ``run.py``)."""
