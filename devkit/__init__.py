"""Tooling that the tests, the load tests and the scripts share: starting real servers
(redis-server, PostgreSQL, a Redis Cluster) and the project's own processes, the token
matrix and the WebSocket fuzzer. It is not part of any deployed process: nothing in core,
live, realtime, api or workers imports it."""
