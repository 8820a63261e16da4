"""`python -m tools.prepare`: the command; the code is tools/check/prepare.py."""

import sys

from tools.check import prepare as command

if __name__ == "__main__":
    sys.exit(command.main())
