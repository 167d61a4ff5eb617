"""deploy/: every metric the Grafana dashboards and the alert rules query is one the
gateway exposes, and the Prometheus files have the right shape (checked with
``promtool`` too when it is installed)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from gateway.config.loader import load_config_text
from gateway.governance.governor import Governor
from gateway.governance.metrics import BudgetCollector
from gateway.observability.exposition import ScrapeCollector, render
from gateway.observability.metrics import GatewayMetrics
from gateway.observability.record import AttemptRecord, RequestRecord, Usage
from gateway.runtime import build_snapshot
from gateway.state.memory import MemoryStateStore

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARDS = sorted((DEPLOY / "grafana").glob("*.json"))
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
SCRAPE = DEPLOY / "prometheus" / "prometheus.yml"

CONFIG = """
providers:
  p: {kind: mock}
models:
  a: {provider: p, price: {input: 1, output: 2}}
  b: {provider: p}
routes:
  chat: {pool: [a, b]}
"""

TEAMS = """
teams:
  research: {budget: {daily_usd: 5, monthly_usd: 100}}
"""

# Built-in Prometheus series that rules may name besides the gateway's own.
BUILTIN = {"up"}
_LABEL_LISTS = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "rate", "irate", "increase", "histogram_quantile",
    "by", "without", "and", "or", "unless", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "label_values", "topk", "bottomk", "abs", "clamp_min", "vector",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """Series names a PromQL expression selects (labels, functions and ranges removed)."""
    text = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges such as [5m] or [$__rate_interval]
    text = _LABEL_LISTS.sub("", text)
    text = re.sub(r"\"[^\"]*\"", "", text)
    text = re.sub(r"\$\w+", "", text)
    names = set()
    for match in _NAME.finditer(text):
        word = match.group(0)
        following = text[match.end() :].lstrip()
        if word in _PROMQL_WORDS or following.startswith("("):
            continue
        names.add(word)
    return names


@pytest.fixture(scope="module")
def exposed() -> set[str]:
    """Sample names a gateway exposes after a little of every kind of traffic."""
    state = MemoryStateStore()
    snapshot = build_snapshot(load_config_text(CONFIG), state)
    metrics = GatewayMetrics(state, snapshot)
    metrics.registry.register(ScrapeCollector(metrics, None))
    for stream in (False, True):
        record = RequestRecord(request_id="r", started=0.0, route="chat", route_label="chat")
        metrics.on_request_start(record)
        record.attempts = [
            AttemptRecord("a", "p", "a", "upstream_5xx", 503, 0.01),
            AttemptRecord("b", "p", "b", "success", 200, 0.01),
        ]
        record.provider, record.alias, record.status, record.stream = "p", "b", 200, stream
        record.usage, record.cost_pico_usd = Usage(11, 7, 3), 25_000_000
        record.latency_s, record.upstream_s = 0.05, 0.02
        record.ttft_s = 0.03 if stream else None
        metrics.on_request_done(record)
    state.park("p/a", time.time() + 30, "upstream_5xx")
    config = load_config_text(CONFIG + TEAMS)
    metrics.registry.register(BudgetCollector(Governor(config, state, frozenset())))
    text = render(metrics, metrics.registry).decode()
    names = set()
    for family in text_string_to_metric_families(text):
        names.update(sample.name for sample in family.samples)
    return names


def dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    exprs = []
    panels = list(dashboard.get("panels", []))
    while panels:
        panel = panels.pop()
        panels.extend(panel.get("panels", []))
        exprs += [t["expr"] for t in panel.get("targets", []) if t.get("expr")]
    return exprs


def test_metric_name_extraction() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, route) (rate(x_bucket{route=~"$route"}'
        "[$__rate_interval]))) / on (route) group_left sum(y_total) > 0.5"
    )
    assert metric_names(expr) == {"x_bucket", "y_total"}


def test_gateway_exposes_the_documented_metrics(exposed: set[str]) -> None:
    for name in (
        "gen_ai_client_operation_duration_seconds_bucket",
        "gen_ai_client_token_usage_sum",
        "gateway_requests_total",
        "gateway_attempts_total",
        "gateway_fallbacks_total",
        "gateway_cooldowns_total",
        "gateway_cooldown_active",
        "gateway_time_to_first_token_seconds_bucket",
        "gateway_overhead_seconds_count",
        "gateway_cost_usd_total",
        "gateway_in_flight_requests",
        "gateway_state_errors_total",
        "gateway_profile_requests_total",
        "gateway_route_available_members",
        "gateway_team_spend_usd",
        "gateway_team_budget_usd",
    ):
        assert name in exposed, name


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_queries_only_exposed_metrics(path: Path, exposed: set[str]) -> None:
    dashboard = json.loads(path.read_text())
    assert dashboard["title"] and dashboard["uid"]
    exprs = dashboard_exprs(dashboard)
    assert len(exprs) >= 10
    named: set[str] = set()
    for expr in exprs:
        names = metric_names(expr)
        assert names, expr
        assert names <= exposed, (expr, names - exposed)
        named |= names
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    # The panels the dashboard promises.
    for family in (
        "gateway_requests_total",
        "gateway_attempts_total",
        "gateway_fallbacks_total",
        "gateway_cooldown_active",
        "gen_ai_client_operation_duration_seconds_bucket",
        "gateway_time_to_first_token_seconds_bucket",
        "gateway_overhead_seconds_bucket",
        "gen_ai_client_token_usage_sum",
        "gateway_cost_usd_total",
        "gateway_team_spend_usd",
        "gateway_team_budget_usd",
    ):
        assert family in named, family


def test_alert_rules_shape_and_metrics(exposed: set[str]) -> None:
    rules = yaml.safe_load(ALERTS.read_text())
    groups = rules["groups"]
    assert groups and all(g["name"] and g["rules"] for g in groups)
    alerts = {}
    for group in groups:
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
            assert rule["alert"] and rule["expr"] and rule["for"]
            assert rule["labels"]["severity"] in {"info", "warning", "critical"}
            assert rule["annotations"]["summary"]
            names = metric_names(rule["expr"])
            assert names and names <= exposed | BUILTIN, (rule["alert"], names - exposed)
            alerts[rule["alert"]] = names
    assert "gateway_requests_total" in alerts["GatewayHighErrorRatio"]
    assert "gateway_route_available_members" in alerts["GatewayRouteAllMembersParked"]
    assert "gateway_overhead_seconds_bucket" in alerts["GatewayOverheadHigh"]
    assert "gateway_state_errors_total" in alerts["GatewayStateStoreErrors"]
    assert "gateway_team_spend_usd" in alerts["GatewayTeamBudgetNearlySpent"]


def test_scrape_config_points_at_metrics() -> None:
    config = yaml.safe_load(SCRAPE.read_text())
    assert config["rule_files"] == ["alerts.yml"]
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "llm-gateway"]
    assert job["metrics_path"] == "/metrics"
    assert all(t.endswith(":8080") for t in job["static_configs"][0]["targets"])


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_config_and_rules() -> None:
    for args in (["check", "config", str(SCRAPE)], ["check", "rules", str(ALERTS)]):
        result = subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
