"""The validation proxy: ``chat-text-conformance proxy --upstream URL`` relays
``POST /inference/chat_text`` from any client to any server and judges every real exchange with
the rule catalogue (see ``docs/proxy.md``).

Public face::

    from chat_text_conformance.proxy import ProxySettings, running_proxy

    with running_proxy(ProxySettings(upstream="http://127.0.0.1:8000")) as proxy:
        ...  # point a client at proxy.url
        report = proxy.report()  # a RunReport, with report.exchanges
"""

from __future__ import annotations

from .app import NONCONFORMANT, UNAVAILABLE, ProxySettings, ValidationProxy
from .judging import RequestFacts, classify_request, judge_exchange
from .ledger import MULTI_CALL_REASON, Ledger
from .server import RunningProxy, running_proxy, serve

__all__ = [
    "MULTI_CALL_REASON",
    "NONCONFORMANT",
    "UNAVAILABLE",
    "Ledger",
    "ProxySettings",
    "RequestFacts",
    "RunningProxy",
    "ValidationProxy",
    "classify_request",
    "judge_exchange",
    "running_proxy",
    "serve",
]
