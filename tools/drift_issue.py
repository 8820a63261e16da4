"""`python -m tools.drift_issue`: the command; the code is tools/pipeline/drift_issue.py."""

import sys

from tools.pipeline import drift_issue as command

if __name__ == "__main__":
    sys.exit(command.main())
