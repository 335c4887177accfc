"""The live state in Redis: Lua scripts (one step each) and their Python API."""
