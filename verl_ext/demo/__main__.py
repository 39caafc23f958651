"""``python -m verl_ext.demo [options]``: ``verl-ext demo`` without the console entry point."""

import sys

from verl_ext.demo.cli import main

sys.exit(main())
