"""Cross-language client conformance: one corpus of server answers, drawn from openapi.yaml's
schemas, replayed by a scripted loopback server to every client generated from the spec
(Python, TypeScript, Go), each through a small driver that prints a normalized outcome; every
outcome is compared with the Python SDK's, case by case.

``chat-text-conformance clients`` runs it (:mod:`.cli`). The parts: :mod:`.corpus` (the cases,
drawn by the client-conformance strategies, saved in ``clients/corpus.json``), :mod:`.server`
(the scripted server), :mod:`.drivers` (building and running each driver),
:mod:`.python_driver`, :mod:`.known` (known differences, ``clients/known_differences.yaml``),
:mod:`.matrix` (the run and the comparison) and :mod:`.tables`.
"""

from typing import TYPE_CHECKING

from ..._lazy import lazy_exports

if TYPE_CHECKING:
    from .corpus import Case, Corpus, CorpusError, generate_corpus, load_corpus
    from .drivers import DRIVERS, REFERENCE
    from .known import KnownDifference, load_known
    from .run import Cell, MatrixRun, run_matrix, same_json
    from .server import scripted_server

__all__ = [
    "DRIVERS",
    "REFERENCE",
    "Case",
    "Cell",
    "Corpus",
    "CorpusError",
    "KnownDifference",
    "MatrixRun",
    "generate_corpus",
    "load_corpus",
    "load_known",
    "run_matrix",
    "same_json",
    "scripted_server",
]

# Imported on first use: a driver process (python_driver) needs none of the other parts.
__getattr__ = lazy_exports(
    __name__,
    {
        "Case": ".corpus",
        "Corpus": ".corpus",
        "CorpusError": ".corpus",
        "generate_corpus": ".corpus",
        "load_corpus": ".corpus",
        "DRIVERS": ".drivers",
        "REFERENCE": ".drivers",
        "KnownDifference": ".known",
        "load_known": ".known",
        "Cell": ".run",
        "MatrixRun": ".run",
        "run_matrix": ".run",
        "same_json": ".run",
        "scripted_server": ".server",
    },
)
