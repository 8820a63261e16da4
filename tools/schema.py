"""`python -m tools.schema`: the command; the code is tools/check/schema.py."""

import sys

from tools.check import schema as command

if __name__ == "__main__":
    sys.exit(command.main())
