"""How a run is driven: the target, the embedded reference server, the pre-flight
probe, pacing (rate limits), cost and budgets, the schemathesis adapter, the properties'
harness and the runner that puts them together."""
