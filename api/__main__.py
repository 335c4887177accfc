"""`python -m api`: start the REST api with the deployed settings (core/launch.py);
`python -m api create-admin --email ...`: create an admin account (api/create_admin.py);
`python -m api new-signing-key ec KID`: print a new token signing key (core/keygen.py)."""

import sys

if sys.argv[1:2] == ["create-admin"]:
    from api.create_admin import main as create_admin

    create_admin(sys.argv[2:])
elif sys.argv[1:2] == ["new-signing-key"]:
    from core.keygen import main as new_signing_key

    new_signing_key(sys.argv[2:])
else:
    from core.launch import main

    main("api")
