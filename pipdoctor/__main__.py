"""`python -m pipdoctor`."""

import sys

from pipdoctor.cli import main

sys.exit(main())
