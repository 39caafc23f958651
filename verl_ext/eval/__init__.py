"""Evaluation: metrics of scored responses (mean@k, pass@k, maj@k, bootstrap CIs), the paper's table, its curves."""
