"""WebSocket close codes (PROTOCOL 4.3). 4000-4499: the client reconnects with backoff;
4500-4999: it does not reconnect on its own."""

NORMAL = 1000
GOING_AWAY = 1001
TOO_BIG = 1009
SERVICE_RESTART = 1012
TRY_AGAIN_LATER = 1013  # a dependency (PostgreSQL) failed while admitting the connection
TOKEN_EXPIRED = 4005
SLOW_CONSUMER = (
    4008  # not in PROTOCOL 4.3: the client did not read its frames (docs/protocol-notes.md)
)
RATE_LIMITED = 4029
BAD_REQUEST = 4500
UNAUTHORIZED = 4501
FORBIDDEN = 4503
REPLACED = 4509
DISCONNECTED = 4510  # an admin ended the user's connections (docs/protocol-notes.md)
