"""`python -m loadtests.faults`: the fault drill (loadtests/faults/__init__.py)."""

import os
import sys

from loadtests.faults.cli import main
from loadtests.stack import ROOT

if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
