"""`python -m cluster COMMAND ...` runs a command from the source tree."""

import sys

from cluster.cli.main import dispatch

sys.exit(dispatch(["cmcluster", *sys.argv[1:]]))
