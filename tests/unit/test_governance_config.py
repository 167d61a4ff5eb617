"""``teams:``, ``keys:``, ``governance:`` and ``models.<alias>.limits`` in the config:
valid files load, and every mistake names its YAML path."""

from __future__ import annotations

import hashlib

import pytest

from gateway.accounting.counters import UsageEvent, UsageRows, aggregate, bucket_key, bucket_keys
from gateway.config.loader import ConfigError, load_config_text
from gateway.governance.keys import KeyRing

BASE = """
providers:
  p: {kind: mock}
models:
  a: {provider: p, limits: {rpm: 10, tpm: 1000}}
routes:
  chat: {pool: [a], profiles: {premium: [a]}}
"""


def load(extra: str, env: dict[str, str] | None = None) -> object:
    return load_config_text(BASE + extra, "<test>", env or {"ALICE_KEY": "sk-alice"})


def problems(extra: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(extra)
    return info.value.problems


def test_keys_and_teams_load() -> None:
    digest = hashlib.sha256(b"sk-bob").hexdigest()
    config = load(f"""
teams:
  research: {{rpm: 100, budget: {{monthly_usd: 50}}, metadata: {{owner: ana}}}}
keys:
  alice:
    secret: ${{ALICE_KEY}}
    team: research
    routes: [chat, "sum*"]
    profiles: [premium]
    rpm: 10
    tpm: 5000
    max_parallel: 2
    budget: {{daily_usd: 1.5}}
    expires_at: 2030-01-01T00:00:00Z
    metadata: {{ticket: OPS-1}}
  bob: {{secret: "sha256:{digest}"}}
governance: {{default_max_tokens: 256, lease_fraction: 0.1}}
""")
    ring = KeyRing()
    ring.configure([], config.keys, config.teams)  # type: ignore[attr-defined]
    alice = ring.lookup("sk-alice")
    assert alice is not None and alice.key.team == "research"
    assert alice.team_limits is not None and alice.team_limits.rpm == 100
    assert alice.allows_route("summarize") and not alice.allows_route("other")
    bob = ring.lookup("sk-bob")
    assert bob is not None and bob.key.id == "bob" and bob.allows_route("anything")
    assert ring.lookup("sha256:" + digest) is None  # the hash is not a secret
    assert config.models["a"].limits.rpm == 10  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("keys: {k: {secret: x, team: nobody}}", "keys.k.team: unknown team 'nobody'"),
        ("keys: {k: {secret: 'sha256:abc'}}", "keys.k.secret: a sha256: secret needs 64"),
        ("keys: {k: {secret: x, profiles: [gold]}}", "keys.k.profiles[0]: unknown profile 'gold'"),
        ("keys: {k: {secret: x, rpm: 0}}", "keys.k.rpm:"),
        ("keys: {k: {secret: x, budget: {daily_usd: -1}}}", "keys.k.budget.daily_usd:"),
        ("keys: {k: {secret: x, colour: red}}", "keys.k.colour: unknown key"),
        ("keys: {k: {secret: x, expires_at: 2030-01-01T00:00:00}}", "keys.k.expires_at: give a"),
        ("keys: {k: {secret: x}, j: {secret: x}}", "keys.j.secret: the same secret as keys.k"),
        ("keys: {k: {rpm: 3}}", "keys.k.secret: required key is missing"),
        ("keys: {k: {secret: '${NOPE}'}}", "keys.k.secret: environment variable 'NOPE'"),
        ("teams: {t: {tpm: -5}}", "teams.t.tpm:"),
        ("governance: {lease_fraction: 2}", "governance.lease_fraction:"),
    ],
)
def test_mistakes_name_their_path(extra: str, expected: str) -> None:
    found = problems(extra)
    assert any(p.startswith(expected) for p in found), found


def test_model_limits_are_checked() -> None:
    bad = BASE.replace("limits: {rpm: 10, tpm: 1000}", "limits: {rpm: 10, rps: 3}")
    with pytest.raises(ConfigError) as info:
        load_config_text(bad, "<test>", {})
    assert "models.a.limits.rps: unknown key" in info.value.problems


def test_usage_counters_by_key_team_and_month() -> None:
    at = 1_795_000_000.0  # 2026-11-18
    rows = UsageRows()
    base = {"route": "chat", "profile": "", "provider": "p", "model": "a", "error": False}
    rows.add(
        UsageEvent(
            **base, api_key="key_1", cost_pico_usd=30 * 10**6, at=at, key="alice", team="research"
        )
    )
    rows.add(UsageEvent(**base, api_key="key_2", cost_pico_usd=12 * 10**6, at=at, key="bob"))
    assert bucket_key("month", at) == "usage:month:202611"
    assert bucket_keys("month", 3, at) == [
        "usage:month:202611",
        "usage:month:202610",
        "usage:month:202609",
    ]
    assert bucket_keys("month", 2, 1_767_225_600.0) == ["usage:month:202601", "usage:month:202512"]
    increments = rows.increments()
    data, totals = aggregate([increments["usage:month:202611"]], ["team", "key"])
    assert [(r["team"], r["key"], r["cost_micro_usd"]) for r in data] == [
        ("research", "alice", 30),
        ("", "bob", 12),
    ]
    assert totals["requests"] == 2
    # A field written before `key` and `team` existed reads as "" for them.
    old = {'requests|["chat","","p","a","key_1"]': 4}
    data, _ = aggregate([old], ["key", "route"])
    assert data[0]["key"] == "" and data[0]["route"] == "chat" and data[0]["requests"] == 4


def test_events_across_minute_day_and_month_edges_land_in_their_own_buckets() -> None:
    """The rows keep each window's bucket index for the current minute: an event in
    the next minute, day or month (or back in an earlier one) must not reuse them."""
    month_end = 1_796_083_200.0  # 2026-12-01T00:00:00Z
    moments = [
        month_end - 61,  # 2026-11-30 23:58:59
        month_end - 1,  # 23:59:59, a minute later
        month_end,  # a new minute, day and month
        month_end - 30,  # back in November (a clock step)
        month_end + 59,
    ]
    rows = UsageRows()
    for at in moments:
        rows.add(UsageEvent("chat", "", "p", "a", "k", False, cost_pico_usd=1, at=at))
    increments = rows.increments()
    requests = {
        bucket: sum(v for f, v in fields.items() if f.startswith("requests|"))
        for bucket, fields in increments.items()
    }
    assert requests == {
        "usage:minute:202611302358": 1,
        "usage:minute:202611302359": 2,
        "usage:minute:202612010000": 2,
        "usage:day:20261130": 3,
        "usage:day:20261201": 2,
        "usage:month:202611": 3,
        "usage:month:202612": 2,
    }


def test_the_example_config_loads_and_its_example_secret_matches() -> None:
    from pathlib import Path

    from gateway.config.loader import load_config

    path = Path(__file__).resolve().parents[2] / "config" / "example-governance.yaml"
    config = load_config(path, env={})
    ring = KeyRing()
    ring.configure([], config.keys, config.teams)
    notebook = ring.lookup("sk-notebook-example")
    assert notebook is not None and notebook.key.id == "notebook"
    assert notebook.team_limits is not None and notebook.team_limits.rpm == 600
    assert config.models["small"].limits is not None


def test_a_reload_swaps_keys_and_limits() -> None:
    from gateway.governance.governor import Governor
    from gateway.observability.record import RequestRecord
    from gateway.state.memory import MemoryStateStore

    first = load_config_text(BASE + "keys: {k: {secret: sk-1, rpm: 1}}", "<a>", {})
    second = load_config_text(BASE + "keys: {k: {secret: sk-2, rpm: 5}}", "<b>", {})
    governor = Governor(first, MemoryStateStore(), frozenset())
    headers = {b"authorization": b"Bearer sk-1"}
    caller = governor.caller(headers)
    assert caller is not None
    governor.admitter.admit(RequestRecord("r", 0.0), caller, "chat", None, {}, 1)
    governor.configure(second, frozenset())
    with pytest.raises(Exception, match="invalid or missing API key"):
        governor.caller(headers)
    caller = governor.caller({b"authorization": b"Bearer sk-2"})
    assert caller is not None
    record = RequestRecord("r", 0.0)
    governor.admitter.admit(record, caller, "chat", None, {}, 1)  # rpm 5 now: room left
    assert (record.limit_headers or [])[0] == (b"x-ratelimit-limit-requests", b"5")
