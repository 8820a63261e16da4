"""`python -m tools.policy_state`: the command; the code is tools/pipeline/policy_state.py."""

import sys

from tools.pipeline import policy_state as command

if __name__ == "__main__":
    sys.exit(command.main())
