"""`python -m api`: start the REST api with the deployed settings (core/launch.py)."""

from core.launch import main

main("api")
