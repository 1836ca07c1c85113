"""``python -m replens.demo``"""

from .cli import main

raise SystemExit(main())
