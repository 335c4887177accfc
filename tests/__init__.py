# Makes tests/ a package, so test modules are named tests.<dir>.<module> (a tests/realtime/
# package would otherwise be imported as `realtime` and shadow the app) and `tests.support`
# imports under plain `pytest` as well as `python -m pytest`.
