"""Data preparation: the paper's train and eval sets as veRL parquet files (see prepare.py)."""
