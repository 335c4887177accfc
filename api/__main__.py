"""`python -m api`: start the REST api with the deployed settings (core/launch.py);
`python -m api import-legacy DIR [--dry-run]`: import the replaced service's CSV export
(api/legacy_import.py, docs/migration.md)."""

import sys

if sys.argv[1:2] == ["import-legacy"]:
    from api.legacy_import import main as import_legacy

    sys.exit(import_legacy(sys.argv[2:]))

from core.launch import main

main("api")
