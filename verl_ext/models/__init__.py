"""Models verl-ext builds locally, below both the demo and the veRL adapters: the tiny Qwen2 (``tiny.py``) that
the demo trains and the recipe's ``scale=cpu`` runs on (``verl_ext/verl/cpu/tiny_model.py``), and the cache they are
built into once (``cache.py``)."""
