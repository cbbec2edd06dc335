"""``python -m sklrp``: the same as the ``sklrp`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
