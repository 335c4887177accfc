"""Fault drills under light load: the whole system on loopback, one fault at a time, measured.

    bash loadtests/faults.sh                       # all five faults, locust load, ~2.5 minutes
    bash loadtests/faults.sh --faults hub_kill,redis_stop --users 20 --load builtin

Starts Redis (AOF, appendfsync everysec), PostgreSQL (fsync on), runs the migrations and the
demo seed, then two hubs, the api and the worker, each under loadtests/supervise.py (restart
on exit, like `restart: always`). Puts a light load on it (locust headless with
loadtests/locustfile.py: WebSocket players, fallback players, catalog browsing, admin reads;
or `--load builtin`: loadtests/players.py), with one-second rewards and heartbeats so that
every player earns about one reward a second. Then, with a settling phase between them:

    hub_kill       SIGKILL one hub node
    worker_kill    SIGKILL the worker
    redis_kill     SIGKILL redis-server (restarted on its AOF)
    postgres_kill  SIGKILL PostgreSQL's postmaster and backends (restarted: crash recovery)
    redis_stop     SIGSTOP redis-server for 5 s, then SIGCONT

After each: the recovery time, from the kill (or the SIGCONT) until every process is ready
again (hubs: /ready 200 and a fallback heartbeat of a canary user answered; api: /ready 200;
worker: its metrics say it holds every partition) *and* a grant made after that moment is in
the PostgreSQL ledger. A process not recovered within --recovery-timeout is restarted by the
drill and reported as "manual restart needed". After the load stops and the outbox drained:
grants lost (rewards that players were told about, and reward indexes Redis recorded as
granted, missing from the ledger), duplicates (a reward id twice; a (user, content, boundary)
twice; a user paid for more boundaries than the wall-clock time allows), dead letters and
balance checks. Prints a table, writes loadtests/results/faults-<time>.json, and exits 1 when
a check fails. Every loop is bounded in time; everything listens on 127.0.0.1 only.

The package, one concept a module: `model` (the faults, the drill's environment, Options,
FaultResult and a fault's verdict), `drill` (the Drill and `run_drill`), `probes` (readiness,
recovery and the cross-node kick), `analysis` (after the run: drained outbox, ledger against
what players saw and what Redis granted), `observe` (raw HTTP, WebSocket frames, the reward
log and locust's CSV files), `report` (the table and the problems), `cli` (`main`).
"""
