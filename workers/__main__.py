"""`python -m workers`: start the arq worker with the deployed settings (core/launch.py)."""

from core.launch import main

main("workers")
