"""The traffic mix, for locust: WebSocket players, HTTP-fallback players, catalog browsing and
admin reads. Run it with `bash loadtests/run_locust.sh` (starts the whole system, see
docs/performance.md), or against a running system:

    DATABASE_URL=... REDIS_URL=... JWT_SECRET=... HUB_URL=http://127.0.0.1:8001 \\
        .venv/bin/locust -f loadtests/locustfile.py -H http://127.0.0.1:8000 --headless -u 200 -r 50 -t 60s

Every exchange is reported through locust's request event: WebSocket exchanges as request
type `WS` (connect, start, heartbeat, stop, takeover, replaced), frames the server pushes
as `WS push` (reward, viewers, notice; response time 0), fallback and REST calls as HTTP.

Environment:
    HUB_URL             the realtime hub (http://host:port), or several, comma-separated: each
                        player picks one by its user id and moves to the next one when a
                        connection or request fails (client-side balancing, as a player behind
                        a load balancer that skips a dead node would see it); the api is
                        locust's -H host
    JWT_SECRET (+ DATABASE_URL, REDIS_URL: core.settings needs them) to mint access tokens
    HEARTBEAT_EVERY_S   player heartbeat period (default 10)
    CONTENT_IDS         comma-separated content ids to watch (default 1-7)
    LOCUST_FIRST_UID    first user id of the simulated players (default 200000)
    LOCUST_STRICT_404   1: a 404 from a catalog or admin route is a failure (default: the
                        route may not exist yet, so it counts as success and is listed at the end)
    REWARD_LOG          a file to append `<unix time> <reward_id>` to for every reward a player
                        was told about (WebSocket `reward` frames and fallback `rewards`), so a
                        fault run can compare what players saw with the ledger (loadtests/faults/)
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from typing import Any

from locust import HttpUser, User, between, constant, events, task
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from core.settings import load_settings
from core.tokens import issue_access

HEARTBEAT_EVERY_S = float(os.environ.get("HEARTBEAT_EVERY_S", "10"))
CONTENT_IDS = [int(x) for x in os.environ.get("CONTENT_IDS", "1,2,3,4,5,6,7").split(",") if x]
STRICT_404 = os.environ.get("LOCUST_STRICT_404", "") == "1"
REPLY_TIMEOUT_S = 10.0

_uids = itertools.count(int(os.environ.get("LOCUST_FIRST_UID", "200000")))
_settings: Any = None
_missing_routes: set[str] = set()
_reward_log: Any = None


def token_for(uid: int, roles: tuple[str, ...] = ("viewer",)) -> str:
    global _settings
    if _settings is None:
        _settings = load_settings()
    return issue_access(_settings, uid, roles, ttl_s=6 * 3600)


def hub_urls() -> list[str]:
    raw = os.environ.get("HUB_URL", "http://127.0.0.1:8001")
    return [u.strip().rstrip("/") for u in raw.split(",") if u.strip()]


def hub_url(index: int = 0) -> str:
    """The hub a player with this index uses (round robin over HUB_URL's list)."""
    urls = hub_urls()
    return urls[index % len(urls)]


def log_reward(reward_id: str) -> None:
    """Append a reward the player was told about to REWARD_LOG (when set); line-buffered, so
    a run that is killed keeps every line written before."""
    global _reward_log
    path = os.environ.get("REWARD_LOG")
    if not path:
        return
    if _reward_log is None:
        _reward_log = open(path, "a", buffering=1)  # noqa: SIM115 - open for the whole run
    _reward_log.write(f"{time.time():.3f} {reward_id}\n")


@events.quitting.add_listener
def _report_missing(environment: Any, **_: Any) -> None:
    if _missing_routes:
        print(
            "routes that answered 404 (counted as success; LOCUST_STRICT_404=1 to fail them): "
            + ", ".join(sorted(_missing_routes))
        )


class ProtocolError(Exception):
    """The hub answered something other than what the exchange expects."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class WsPlayer(User):
    """A player holding a WebSocket: connect, start, a heartbeat every HEARTBEAT_EVERY_S, now
    and then a stop and a new start, and now and then a takeover from another device."""

    weight = 6
    wait_time = constant(HEARTBEAT_EVERY_S)

    def on_start(self) -> None:
        self.uid = next(_uids)
        self.token = token_for(self.uid)
        self.hub_index = self.uid  # spreads players over the hubs; +1 after a failed connect
        self.last_error: str | None = None
        # Device ids of this user only: the multi-account review holds the grants of
        # accounts that share a device id.
        self.devices = itertools.cycle(
            [f"phone-{self.uid}", f"laptop-{self.uid}", f"tv-{self.uid}"]
        )
        self.device = next(self.devices)
        self.content_id = random.choice(CONTENT_IDS)
        self.ws: ClientConnection | None = self._connect()
        if self.ws is not None:
            self._start(self.ws, self.device, takeover=False)

    def on_stop(self) -> None:
        if self.ws is not None:
            self.ws.close()
            self.ws = None

    # Exchanges.

    def _connect(self) -> ClientConnection | None:
        url = hub_url(self.hub_index).replace("http", "ws", 1) + "/ws"
        ws = None
        connected = False
        with self.environment.events.request.measure("WS", "connect") as meta:
            ws = connect(
                url,
                additional_headers={"Authorization": f"Bearer {self.token}"},
                open_timeout=REPLY_TIMEOUT_S,
                max_size=1 << 16,
                proxy=None,
                legacy=True,
            )
            hello = self._recv(ws, {"hello"}, meta)
            if hello.get("type") != "hello":
                raise ProtocolError(f"expected hello, got {hello}")
            connected = True
        if connected:
            return ws
        if ws is not None:  # measure() swallowed an error after the connect
            ws.close()
        self.hub_index += 1  # that hub is down or refused: the next attempt goes elsewhere
        return None

    def _recv(self, ws: ClientConnection, want: set[str], meta: dict[str, Any]) -> dict[str, Any]:
        """Frames until one whose type is in `want` (or an error); pushes on the way are
        reported as `WS push`."""
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        size = 0
        while True:
            raw = ws.recv(timeout=max(0.01, deadline - time.monotonic()))
            size += len(raw)
            msg = json.loads(raw)
            kind = msg.get("type")
            if kind == "reward":
                log_reward(str(msg.get("reward_id")))
            if kind in want:
                meta["response_length"] = size
                return dict(msg)
            if kind == "error":
                self.last_error = msg.get("code")
                raise ProtocolError(f"{msg.get('code')}: {msg.get('message')}", msg.get("code"))
            self.environment.events.request.fire(
                request_type="WS push",
                name=str(kind),
                response_time=0,
                response_length=len(raw),
                exception=None,
                context={},
            )

    def _start(self, ws: ClientConnection, device: str, *, takeover: bool) -> bool:
        name = "takeover" if takeover else "start"
        with self.environment.events.request.measure("WS", name) as meta:
            ws.send(
                json.dumps(
                    {
                        "type": "start",
                        "content_id": self.content_id,
                        "tab_id": "tab-1",
                        "device_id": device,
                        "takeover": takeover,
                    }
                )
            )
            self._recv(ws, {"started"}, meta)
            return True
        return False

    def _alive(self) -> ClientConnection | None:
        """The connection, reconnected (and the session resumed) when it was lost."""
        if self.ws is None or self.ws.state.name != "OPEN":
            if self.ws is not None:  # dropped (its hub died or drained): try the next one
                self.ws.close()
                self.hub_index += 1
            self.ws = self._connect()
            if self.ws is not None and not self._start(self.ws, self.device, takeover=False):
                self.ws.close()
                self.ws = None
        return self.ws

    # Tasks.

    @task(50)
    def heartbeat(self) -> None:
        ws = self._alive()
        if ws is None:
            return
        self.last_error = None
        with self.environment.events.request.measure("WS", "heartbeat") as meta:
            ws.send('{"type":"heartbeat","playing":true,"visible":true}')
            self._recv(ws, {"tick"}, meta)
        if self.last_error == "no_session":  # expired (e.g. Redis stalled past the TTL)
            self._start(ws, self.device, takeover=False)  # what PROTOCOL 4.2 asks of a client

    @task(2)
    def stop_and_restart(self) -> None:
        ws = self._alive()
        if ws is None:
            return
        with self.environment.events.request.measure("WS", "stop") as meta:
            ws.send('{"type":"stop"}')
            self._recv(ws, {"stopped"}, meta)
        self.content_id = random.choice(CONTENT_IDS)
        self._start(ws, self.device, takeover=False)

    @task(1)
    def takeover(self) -> None:
        """Another device of the same user takes the session over; the old connection must
        get `replaced` and close 4509. With several hubs the new device connects to the next
        one, so the kick crosses nodes (pub/sub)."""
        old = self._alive()
        if old is None:
            return
        device = next(self.devices)
        self.hub_index += 1
        new = self._connect()
        if new is None:
            return
        if not self._start(new, device, takeover=True):
            new.close()
            return
        with self.environment.events.request.measure("WS", "replaced (old connection)") as meta:
            self._recv(old, {"replaced"}, meta)
            try:
                old.recv(timeout=REPLY_TIMEOUT_S)
            except ConnectionClosed as exc:
                if exc.rcvd is None or exc.rcvd.code != 4509:
                    raise ProtocolError(f"old connection closed with {exc.rcvd}") from None
            else:
                raise ProtocolError("old connection got a frame after replaced")
        old.close()
        self.ws, self.device = new, device


class FallbackPlayer(HttpUser):
    """A player on the HTTP fallback timer endpoints of the hub."""

    weight = 2
    wait_time = constant(HEARTBEAT_EVERY_S)

    def on_start(self) -> None:
        self.uid = next(_uids)
        self.hub_index = self.uid
        self.hub = hub_url(self.hub_index)  # absolute URLs: locust's -H names the api
        self.headers = {"Authorization": f"Bearer {token_for(self.uid)}"}
        self.tab = "fallback-tab"
        self.content_id = random.choice(CONTENT_IDS)
        self.beat("timer-session (open)")

    def beat(self, name: str) -> None:
        body = {
            "content_id": self.content_id,
            "tab_id": self.tab,
            "device_id": f"old-tv-{self.uid}",
            "playing": True,
            "visible": True,
        }
        response = self.client.post(
            self.hub + "/api/service/timer-session", json=body, headers=self.headers, name=name
        )
        self._after(response.status_code)
        if response.status_code == 200:
            try:
                rewards = response.json()["data"]["rewards"]
            except (ValueError, KeyError, TypeError):
                return
            for reward in rewards:
                log_reward(str(reward.get("reward_id")))

    def _after(self, status: int) -> None:
        """No answer, or a hub answering 5xx (its Redis down): the next call goes to the next
        hub."""
        if status == 0 or status >= 500:
            self.hub_index += 1
            self.hub = hub_url(self.hub_index)

    @task(30)
    def heartbeat(self) -> None:
        self.beat("timer-session")

    @task(1)
    def out_and_restart(self) -> None:
        response = self.client.post(
            self.hub + "/api/service/out-event",
            headers=self.headers,
            name="out-event",
            json={"content_id": self.content_id, "tab_id": self.tab},
        )
        self._after(response.status_code)
        self.content_id = random.choice(CONTENT_IDS)
        self.beat("timer-session (open)")


class _ApiUser(HttpUser):
    abstract = True
    roles: tuple[str, ...] = ("viewer",)

    def on_start(self) -> None:
        self.headers = {"Authorization": f"Bearer {token_for(next(_uids), self.roles)}"}

    def get(self, path: str, name: str) -> None:
        with self.client.get(path, headers=self.headers, name=name, catch_response=True) as r:
            if r.status_code == 404 and not STRICT_404 and "{" not in name:
                _missing_routes.add(name)
                r.success()
            elif r.status_code == 404 and "{" in name:
                r.success()  # a detail of an id that does not exist: an answer like any other


class Browser(_ApiUser):
    """Catalog browsing (list, detail, search, tags) and the player's own account pages.
    Paced within the api's per-user limit of 100 requests/min."""

    weight = 3
    wait_time = between(1, 3)

    @task(6)
    def contents(self) -> None:
        sort = random.choice(["latest", "popular", "live"])
        self.get(f"/api/contents?sort={sort}&limit=20", f"/api/contents?sort={sort}")

    @task(3)
    def content(self) -> None:
        self.get(f"/api/contents/{random.choice(CONTENT_IDS)}", "/api/contents/{id}")

    @task(2)
    def search(self) -> None:
        q = random.choice(["bunny", "dream", "steel", "cars", "short", "fun"])
        self.get(f"/api/search?q={q}", "/api/search?q=")

    @task(1)
    def tags(self) -> None:
        self.get("/api/tags", "/api/tags")

    @task(1)
    def balance(self) -> None:
        self.get("/api/me/balance", "/api/me/balance")

    @task(1)
    def ledger(self) -> None:
        self.get("/api/coin-transactions?limit=20", "/api/coin-transactions")


class Admin(_ApiUser):
    """Admin console reads, within the 60 requests/min admin limit."""

    weight = 1
    wait_time = between(2, 5)
    roles = ("admin", "viewer")

    @task(3)
    def live(self) -> None:
        self.get("/api/admin/live", "/api/admin/live")

    @task(2)
    def users(self) -> None:
        self.get("/api/admin/users?limit=20", "/api/admin/users")

    @task(1)
    def settings(self) -> None:
        self.get("/api/admin/settings", "/api/admin/settings")

    @task(1)
    def audit(self) -> None:
        self.get("/api/admin/audit-log?limit=20", "/api/admin/audit-log")
