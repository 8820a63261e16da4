"""`python -m tools.plan`: the command; the code is tools/review/plan.py."""

import sys
from pathlib import Path

from tools.review import diff_base

if __name__ == "__main__":
    # `--diff REF`: REF's plan starts now, in a child process, while this one imports the SDKs
    diff_base.start_early(sys.argv[1:], Path(__file__).resolve().parents[1])
    from tools.review import plan as command

    sys.exit(command.main())
