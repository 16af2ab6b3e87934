"""``python -m drcompat.batch``: the batch CLI (see ``drcompat.batch.cli``)."""

import sys

from drcompat.batch.cli import main

if __name__ == "__main__":
    sys.exit(main())
