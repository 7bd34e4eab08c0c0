"""``python -m chat_text_conformance.cross_language`` is ``chat-text-conformance clients``."""

import sys

from .cli import main

sys.exit(main())
