"""``verl-ext demo``: label-free GRPO on a tiny model, on CPU, through TRL or veRL's own trainer.

A pipeline, read top-down; ``pipeline.run`` calls the stages in this order:

1. ``config.py``      ``DemoConfig`` (every option), ``checked`` (validation, the student's defaults), ``DemoResult``;
2. ``student.py``     the student ready to train: ``students.py`` (the three students and their recipes) on the
                      shipped problems (``problems.py``, ``data/``), ``verl_ext.models.tiny`` (the model, built
                      locally), ``warmup.py`` (the supervised warm-up), ``warm_cache.py`` (the warmed-up model, cached);
3. ``engines/``       GRPO behind one interface (``base.py``): ``trl.py`` (TRL's GRPOTrainer) and ``verl.py`` (the
                      recipe's ``run_grpo.sh scale=cpu``: veRL's ``main_ppo`` on the CPU backend), in ``registry.py``;
4. ``evaluate.py``    held-out evaluation, called back by the engines: greedy (boxed and latent accuracy) and k
                      samples per problem (mean@k, maj@k, distinct answers, the collapse monitors);
5. ``metrics_log.py`` and ``report.py``: the metric log, ``curves.png``, ``samples.jsonl``, ``sampled.jsonl``,
                      ``summary.json``, the closing lines;
6. ``pipeline.py``    the orchestrator;
7. ``cli.py``         the command line.

``measure.py`` runs the demo over rewards and seeds and tabulates the runs (and the students before GRPO).
"""
