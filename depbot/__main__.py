"""``python -m depbot``: the command line."""

import sys

from depbot.cli import main

if __name__ == "__main__":
    sys.exit(main())
