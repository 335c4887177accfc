"""Developer scripts: install, run, test, seed (run from the project root)."""
