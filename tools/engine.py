"""`python -m tools.engine`: the command; the code is tools/check/engine.py."""

import sys

from tools.check import engine as command

if __name__ == "__main__":
    sys.exit(command.main())
