"""`python -m tools.check_dns`: the command; the code is tools/check/dns.py."""

import sys

from tools.check import dns as command

if __name__ == "__main__":
    sys.exit(command.main())
