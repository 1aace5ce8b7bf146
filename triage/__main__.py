"""`python -m triage`: the same command as the `triage` script."""

import sys

from triage.cli import main

sys.exit(main())
