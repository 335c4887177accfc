"""`python -m loadtests.bench`: see loadtests/bench/__init__.py."""

import sys

from loadtests.bench.run import main

sys.exit(main())
