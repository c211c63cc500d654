"""``python -m heatpose ...``: the same as the ``heatpose`` command."""
import sys

from heatpose.cli import main

if __name__ == "__main__":
    sys.exit(main())
