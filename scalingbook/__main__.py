"""``python -m scalingbook``: the command line (see :mod:`scalingbook.cli`)."""

import sys

from scalingbook.cli import main

if __name__ == "__main__":
    sys.exit(main())
