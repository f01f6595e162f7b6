"""``python -m hf_addons`` is the ``hf-addons`` console script."""

import sys

from hf_addons.cli import main

sys.exit(main())
