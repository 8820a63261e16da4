"""`python -m tools.zonefile`: the command; the code is tools/review/zonefile.py."""

import sys

from tools.review import zonefile as command

if __name__ == "__main__":
    sys.exit(command.main())
