"""The HTTP edge shared by the REST api and the hub's HTTP endpoints, one module per concern:

- `envelope`: JSON responses in the envelope of PROTOCOL 6 (`ok`, `error_body`), orjson-encoded,
  datetimes in APP_TIMEZONE;
- `context`: `RequestContext` (request ids, the 500 of last resort), `client_ip`;
- `guards`: `ConcurrencyCap` and `Cors`;
- `handlers`: `exception_handlers()`, where domain errors become HTTP statuses;
- `metrics`: `HttpMetrics`, requests by route template and status;
- `decoding`: `decode_body`, `decode_query`, `invalid`, `require_identity`.

The names the api and the hub use are importable from `core.web` itself.
"""

from core.web.context import RequestContext, client_ip, request_id, valid_request_id
from core.web.decoding import (
    decode_body,
    decode_json,
    decode_query,
    invalid,
    no_nul,
    require_identity,
)
from core.web.envelope import HTTP_CODES, JSONBytes, encode, error_body, ok, ok_body
from core.web.guards import ConcurrencyCap, Cors
from core.web.handlers import dependency_down, error_response, exception_handlers
from core.web.metrics import HttpMetrics

__all__ = [
    "HTTP_CODES",
    "ConcurrencyCap",
    "Cors",
    "HttpMetrics",
    "JSONBytes",
    "RequestContext",
    "client_ip",
    "decode_body",
    "decode_json",
    "decode_query",
    "dependency_down",
    "encode",
    "error_body",
    "error_response",
    "exception_handlers",
    "invalid",
    "no_nul",
    "ok",
    "ok_body",
    "request_id",
    "require_identity",
    "valid_request_id",
]
