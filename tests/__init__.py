# Makes tests/ a package, so test modules are named tests.<dir>.<module> (a tests/realtime/
# package would otherwise be imported as `realtime` and shadow the app). The helpers that the
# load tests and scripts share with the tests are in devkit/, not here.
