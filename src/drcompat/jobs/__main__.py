import sys

from drcompat.jobs.cli import main

sys.exit(main())
