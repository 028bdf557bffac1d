"""``python3 -m zcimport``: the command line (see :mod:`zcimport.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
