import sys

from depbot.cli import main

sys.exit(main())
