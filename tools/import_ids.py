"""`python -m tools.import_ids`: the command; the code is tools/adopt/import_ids.py."""

import sys

from tools.adopt import import_ids as command

if __name__ == "__main__":
    sys.exit(command.main())
