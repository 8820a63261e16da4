"""`python -m tools.state`: the command; the code is tools/pipeline/state.py."""

import sys

from tools.pipeline import state as command

if __name__ == "__main__":
    sys.exit(command.main())
