"""Test support for chat-text, not shipped with it: the servers the project's tests and
benchmarks run the suite against.

* :mod:`.mutations`: the fault catalogue (the reference server with one planted bug at a time);
* :mod:`.variant_server`: an independent implementation with a switch per choice the documents
  leave open (every legal variant must pass);
* :mod:`.deployments`: what real deployments put in front of a server (rate limiters, slow
  models, gateways that refuse a charset, HTML error pages).

Installed by tox (``deps`` of every env: ``./testkit``); in a development venv,
``pip install -e ./testkit`` beside ``pip install -e '.[dev]'``.
"""
