"""`python -m workbench.cli`: the `instructedit` command."""
import sys

from workbench.cli import main

sys.exit(main())
