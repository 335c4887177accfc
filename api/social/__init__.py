"""Social login (docs/security.md, "Social login"): OAuth 2.0 authorization code flow with
PKCE, `state` and, for OpenID Connect, `nonce`, against the providers configured in
core/providers.py.

- `flow`: the pure part (state, PKCE, nonce, the authorize URL, the record kept in Redis);
- `idtoken`: ID token verification against a JWKS (pure);
- `client`: HTTP to a provider (discovery, JWKS, code exchange, Naver's profile), bounded
  by `OAUTH_TIMEOUT_MS`, with discovery and keys cached;
- `accounts`: who the identity is in our database (find, link, create), one transaction;
- `routes`: the api routes.
"""
