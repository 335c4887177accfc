"""The benchmark: physical baselines and the hub, side by side, in one run.

    bash loadtests/bench.sh            # full (~10 min)
    bash loadtests/bench.sh --quick    # ~2 min, for iteration
    .venv/bin/python -m loadtests.bench --help

It starts its own redis-server (AOF everysec, as deployed) and PostgreSQL in a throwaway
folder, then measures:

1. Redis: tick.lua EVALSHA calls/s (pipelined raw client, and redis-benchmark).
2. A bare uvicorn WebSocket echo (loadtests/echo_app.py) and the hub (`realtime.app:app`),
   one process each, started with the same uvicorn flags: round trips (echo) and heartbeats
   (hub: every one a full tick.lua, earning, grants on) per second with p50/p99 round trip at
   1k and 10k flooding connections; p50/p99 at 50% of the max rate; connection setup rate;
   idle memory per connection at 10k and 20k connections (RSS after minus RSS before, divided)
   for websockets-sansio and wsproto with per-message-deflate on and off; p99 of 20k live
   sessions heartbeating every 10 s.
3. REST catalog list (GET /api/contents) max rps and p99 at 1k rps; outbox drain grants/s
   (loadtests/drain_bench.py, when it exists).

CPU plan (2 cores): the process under test is pinned to --server-cpu (0); Redis,
PostgreSQL, the load generator processes and this controller share --aux-cpu (1). Every
measured window also records the server's own CPU seconds and each core's busy share, so a
figure disturbed by other work on the machine can be recognised (and heartbeats per server
CPU-second stay comparable under noise).

Results: a table on stdout, and JSON under loadtests/results/.

Modules: `config` (settings shared with loadtests/memprofile.py), `measure` (percentiles, CPU
and RSS snapshots, the hub's histogram), `results` (the typed results, encoded to the JSON
layout that `--compare` and `--table` read), `harness` (servers, connections, measured
windows), `windows` (flood and fixed-rate windows), `profile` (py-spy), `phases/` (one module
per part), `report` (summary, targets, compare), `table` (the text table) and `run` (options,
the run loop, the JSON file).
"""
