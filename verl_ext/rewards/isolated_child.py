"""Entry point of an ``IsolatedCaller`` child process (kept apart from ``isolation.py`` so that running it
with ``python -m`` does not re-execute a module the package has already imported)."""

import sys

from verl_ext.rewards.isolation import child_entry

if __name__ == "__main__":
    child_entry(sys.argv[1:])
