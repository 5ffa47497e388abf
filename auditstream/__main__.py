from __future__ import annotations

import sys

from auditstream.cli import main

sys.exit(main())
