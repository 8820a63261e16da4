"""`python -m tools.adopt_zone`: the command; the code is tools/adopt/zone.py."""

import sys

from tools.adopt import zone as command

if __name__ == "__main__":
    sys.exit(command.main())
