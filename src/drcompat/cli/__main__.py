import sys

from drcompat.cli import main

sys.exit(main())
