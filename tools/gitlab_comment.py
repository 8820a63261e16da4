"""`python -m tools.gitlab_comment`: the command; the code is tools/pipeline/gitlab_comment.py."""

import sys

from tools.pipeline import gitlab_comment as command

if __name__ == "__main__":
    sys.exit(command.main())
