"""``python -m kpbench.cli``."""

import sys

from kpbench.cli import main

sys.exit(main())
