"""`python -m tools.plan`: the command; the code is tools/review/plan.py."""

import sys

from tools.review import plan as command

if __name__ == "__main__":
    sys.exit(command.main())
