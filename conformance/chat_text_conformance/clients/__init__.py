"""Conformance of the clients: the Python SDK's (sdk) and the cross-language matrix
(matrix: the Python, TypeScript and Go clients on one corpus)."""
