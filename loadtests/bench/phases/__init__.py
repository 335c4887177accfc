"""The benchmark's parts, one module each, in the order a run takes them; each returns its
typed result (loadtests.bench.results)."""
