"""`python -m tools.diagram`: the command; the code is tools/review/diagram.py."""

import sys

from tools.review import diagram as command

if __name__ == "__main__":
    sys.exit(command.main())
