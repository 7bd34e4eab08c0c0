"""``python -m chat_text_conformance.clients.matrix`` is ``chat-text-conformance clients``."""

import sys

from .cli import main

sys.exit(main())
