"""`python -m app.launcher SPEC_JSON`: the supervisor process (see app.launcher.supervisor)."""

import sys

from app.launcher.supervisor import main

sys.exit(main())
