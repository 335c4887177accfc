"""`python -m api`: start the REST api with the deployed settings (core/launch.py);
`python -m api create-admin --email ...`: create an admin account (api/create_admin.py);
`python -m api new-signing-key ec KID`: print a new token signing key (core/keygen.py);
`python -m api import-legacy DIR [--dry-run]`: import the replaced service's CSV export
(api/legacy_import.py, docs/migration.md)."""

import sys

if sys.argv[1:2] == ["create-admin"]:
    from api.create_admin import main as create_admin

    create_admin(sys.argv[2:])
elif sys.argv[1:2] == ["new-signing-key"]:
    from core.keygen import main as new_signing_key

    new_signing_key(sys.argv[2:])
elif sys.argv[1:2] == ["import-legacy"]:
    from api.legacy_import import main as import_legacy

    sys.exit(import_legacy(sys.argv[2:]))
else:
    from core.launch import main

    main("api")
