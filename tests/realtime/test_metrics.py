"""The hub's hot-path metrics: plain counters exported in Prometheus' format at scrape time."""

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from realtime.metrics import HubMetrics


def _samples(m: HubMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(m.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_counts_and_histogram_bounds_as_prometheus_defines_them() -> None:
    m = HubMetrics()
    m.heartbeats.inc("ok")
    m.heartbeats.inc("ok")
    m.heartbeats.inc("no_session")
    m.frames.inc("malformed", 3)
    for seconds in (0.001, 0.0011, 0.0004, 7.0):  # 0.001 is `le="0.001"`: bounds are inclusive
        m.heartbeat_seconds.observe(seconds)
    s = _samples(m)
    assert s[("hub_heartbeats_total", (("outcome", "ok"),))] == 2
    assert s[("hub_heartbeats_total", (("outcome", "no_session"),))] == 1
    assert s[("hub_frames_total", (("result", "malformed"),))] == 3
    assert s[("hub_frames_total", (("result", "ok"),))] == 0  # known labels show from the start
    bucket = {dict(k[1])["le"]: v for k, v in s.items() if k[0] == "hub_heartbeat_seconds_bucket"}
    assert (bucket["0.0005"], bucket["0.001"], bucket["0.0025"], bucket["2.5"], bucket["+Inf"]) == (
        1,
        2,
        3,
        3,
        4,
    )
    assert s[("hub_heartbeat_seconds_count", ())] == 4
    assert abs(s[("hub_heartbeat_seconds_sum", ())] - 7.0025) < 1e-9
