"""The end-to-end benchmark behind `memgraph-pipelines bench` (docs/benchmark.md).

Lives beside the package, not in it: it needs a checkout (results go to benchmarks/results/)
and the local services, and it wipes the graph it is pointed at.
"""
