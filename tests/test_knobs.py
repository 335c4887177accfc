"""The runtime settings are declared once (core/knobs.py): the environment loader, the
validation, the admin api's PUT shape and the README's table all follow the declaration."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from core import knobs, runtime
from core.errors import BadRequest
from core.settings import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[1]
BASE = {
    "DATABASE_URL": "postgresql+asyncpg://u@h:5432/d",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "JWT_SECRET": "s" * 32,
}


def test_the_readme_rows_are_the_declaration() -> None:
    """Each knob's row in the README's configuration table is what `python -m core.knobs`
    prints (name, default, meaning), so the table cannot drift from the code."""
    readme = (ROOT / "README.md").read_text()
    for row in knobs.markdown_table().splitlines():
        assert row in readme, row


@pytest.mark.parametrize("knob", [k for k in knobs.KNOBS if k.env], ids=lambda k: k.name)
def test_each_knob_reads_its_variable_within_its_bounds(knob: knobs.Knob) -> None:
    """The environment sets the default; a value outside the declared bounds stops the
    process naming the variable; the admin validation refuses it naming the key."""
    assert knob.env and knob.low is not None and knob.high is not None
    env = {**BASE, knob.env: str(knob.high)}
    if knob.name == "heartbeat_interval_ms":
        env["SESSION_TTL_MS"] = str(knob.high + 1)  # ttl > heartbeat, as a whole set
    assert getattr(load_settings(env).runtime, knob.name) == knob.high
    with pytest.raises(ConfigError, match=knob.env):
        load_settings({**BASE, knob.env: str(knob.high + 1)})
    base = load_settings(BASE).runtime
    with pytest.raises(BadRequest) as refused:
        runtime.validate(base, {knob.name: knob.low - 1})
    assert refused.value.details["key"] == knob.name


def test_the_put_shape_has_every_knob_and_nothing_else() -> None:
    """The admin PUT body declares exactly the knobs, each optional (null = back to default)."""
    patch = knobs.Patch
    assert set(patch.__struct_fields__) == set(runtime.KEYS) == {k.name for k in knobs.KNOBS}
    assert msgspec.json.decode(b"{}", type=patch) == patch()
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"nope": 1}', type=patch)
