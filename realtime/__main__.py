"""`python -m realtime`: start the realtime hub with the deployed settings (core/launch.py)."""

from core.launch import main

main("realtime")
