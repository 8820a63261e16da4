"""`python -m tools.check_note`: the command; the code is tools/pipeline/check_note.py."""

import sys

from tools.pipeline import check_note as command

if __name__ == "__main__":
    sys.exit(command.main())
