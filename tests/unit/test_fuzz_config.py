"""Config fuzzing: whatever the file holds, ``load_config_text`` returns a config the
gateway can build, or raises ``ConfigError`` whose problems each start with a YAML
path. Never another exception."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.config.loader import ConfigError, load_config, load_config_text
from gateway.config.schema import GatewayConfig
from gateway.runtime import build_snapshot
from gateway.state.memory import MemoryStateStore

ENV = {"SET_VAR": "value", "EMPTY_VAR": ""}
SECTIONS = set(GatewayConfig.model_fields)
SPECIAL = ("(root)", "(yaml)", "(file)")
FUZZ = settings(
    derandomize=os.environ.get("CI") == "true",
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=12),
)
trees = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), children, max_size=4)
    ),
    max_leaves=12,
)
names = st.one_of(
    st.sampled_from(
        [
            *("mock", "fake", "small", "large", "chat", "gold", "a/b", ""),
            *("${SET_VAR}", "${UNSET}", "${UNSET:-dflt}", "${EMPTY_VAR:-x}"),
        ]
    ),
    st.text(max_size=8),
)
numbers = st.one_of(st.integers(-5, 10**6), st.floats(), trees)
pool = st.one_of(
    st.lists(
        st.one_of(names, st.fixed_dictionaries({"model": names}, optional={"weight": numbers})),
        max_size=3,
    ),
    trees,
)
provider = st.one_of(
    st.fixed_dictionaries(
        {"kind": st.one_of(st.sampled_from(["mock", "openai", "anthropic"]), trees)},
        optional={
            "base_url": st.one_of(st.just("http://127.0.0.1:9/v1"), names, trees),
            "api_key_env": st.one_of(names, trees),
            "headers": st.one_of(st.dictionaries(st.text(max_size=6), st.text(max_size=6)), trees),
            "timeout_s": numbers,
            "connect_timeout_s": numbers,
            "max_connections": numbers,
            "mock": st.one_of(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "latency_ms": numbers,
                        "chunks": numbers,
                        "reply": trees,
                        "failure": st.one_of(
                            st.fixed_dictionaries(
                                {}, optional={"status": numbers, "every": numbers}
                            ),
                            trees,
                        ),
                    },
                ),
                trees,
            ),
        },
    ),
    trees,
)
model = st.one_of(
    st.fixed_dictionaries(
        {"provider": names},
        optional={
            "model": st.one_of(names, trees),
            "context_window": numbers,
            "price": st.one_of(
                st.fixed_dictionaries(
                    {}, optional={"input": numbers, "output": numbers, "cached_input": numbers}
                ),
                trees,
            ),
            "options": trees,
        },
    ),
    trees,
)
route = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "pool": pool,
            "profiles": st.one_of(st.dictionaries(names, pool, max_size=2), trees),
            "policy": st.one_of(st.sampled_from(["priority", "weighted", "random"]), trees),
            "options": st.one_of(
                st.dictionaries(st.text(max_size=6), trees, max_size=3),
                st.just({"extra_body": {"a": {"b": 1}}, "temperature": 0.2}),
                trees,
            ),
            "force": st.one_of(st.lists(st.text(max_size=6), max_size=2), trees),
            "pinned": trees,
        },
    ),
    trees,
)
configs = st.fixed_dictionaries(
    {},
    optional={
        "providers": st.one_of(st.dictionaries(names, provider, max_size=3), trees),
        "models": st.one_of(st.dictionaries(names, model, max_size=3), trees),
        "routes": st.one_of(st.dictionaries(names, route, max_size=3), trees),
        "server": st.one_of(
            st.fixed_dictionaries(
                {},
                optional={
                    "max_body_bytes": numbers,
                    "api_keys": trees,
                    "allow_direct_models": trees,
                },
            ),
            trees,
        ),
        "resilience": st.one_of(
            st.dictionaries(
                st.sampled_from(
                    ["max_attempts", "cooldown_s", "max_cooldown_s", "ttft_timeout_s", "bogus"]
                ),
                numbers,
            ),
            trees,
        ),
        "profile": st.one_of(names, trees),
        "state": trees,
        "logging": trees,
        "unknown_section": trees,
    },
)


def check(text: str) -> None:
    """The property: a buildable config, or a ConfigError of YAML-path problems."""
    try:
        config = load_config_text(text, "fuzz.yaml", ENV)
    except ConfigError as exc:
        assert exc.problems, "a ConfigError must say what is wrong"
        tops = SECTIONS | set(SPECIAL) | _top_keys(text)
        for problem in exc.problems:
            assert isinstance(problem, str) and ": " in problem, problem
            assert any(problem.startswith(top) for top in tops), problem
        str(exc)  # renders
        return
    # A config that loads must also build (providers, route table, runner).
    build_snapshot(config, MemoryStateStore())
    for section in (config.resilience, *config.providers.values()):
        for value in section.model_dump().values():
            if isinstance(value, float):
                assert math.isfinite(value), section


def _top_keys(text: str) -> set[str]:
    try:
        raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (yaml.YAMLError, TypeError, RecursionError):
        return set()
    return {str(k) for k in raw} if isinstance(raw, dict) else set()


@FUZZ
@given(configs)
def test_structured_configs_load_or_fail_with_paths(config: dict[str, Any]) -> None:
    check(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))


@FUZZ
@given(trees)
def test_arbitrary_documents_load_or_fail_with_paths(doc: Any) -> None:
    check(yaml.safe_dump(doc, sort_keys=False))


@FUZZ
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|>'\"#%@ ,?<.\n\t$0")), max_size=60))
def test_yaml_ish_text_loads_or_fails_with_paths(text: str) -> None:
    check(text)


@pytest.mark.parametrize(
    "text",
    [
        "a: &x [*x]",  # a recursive alias: the list contains itself
        "routes: &x {chat: *x}",
        "providers: {p: &x {kind: mock, mock: *x}}",
        "routes:\n  chat: &r {pool: [small], options: {self: *r}}",
        "? [1, 2]\n: 3",  # a sequence as a mapping key
        "routes: {? {a: 1} : {pool: [x]}}",  # a mapping as a mapping key
        "a: " + "[" * 5000 + "]" * 5000,  # deeper than Python's recursion limit
    ],
    ids=[
        "recursive-list",
        "recursive-route",
        "recursive-provider",
        "recursive-options",
        "list-key",
        "dict-key",
        "deep-nesting",
    ],
)
def test_hostile_yaml_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config_text(text, "fuzz.yaml", ENV)
    for problem in raised.value.problems:
        assert problem.startswith((*SPECIAL, "a", "routes", "providers")), problem


BASE = """
providers:
  mock: {kind: mock}
models:
  small: {provider: mock, price: {input: %s, output: 1}}
routes:
  chat: {pool: [small]}
resilience: {cooldown_s: %s, max_cooldown_s: %s}
"""


@pytest.mark.parametrize(
    ("price", "cooldown", "max_cooldown", "path"),
    [
        (".inf", "1", "2", "models.small.price.input"),
        (".nan", "1", "2", "models.small.price.input"),
        ("1", ".inf", ".inf", "resilience.cooldown_s"),
        ("1", "1", ".inf", "resilience.max_cooldown_s"),
    ],
)
def test_infinite_and_nan_numbers_are_refused(
    price: str, cooldown: str, max_cooldown: str, path: str
) -> None:
    # An infinite price made every answer's cost overflow (OverflowError: a 500 after
    # the upstream had already answered).
    with pytest.raises(ConfigError) as raised:
        load_config_text(BASE % (price, cooldown, max_cooldown), "fuzz.yaml", ENV)
    assert any(p.startswith(path + ":") for p in raised.value.problems), raised.value.problems


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"routes:\n  caf\xe9: {pool: [small]}\n")
    with pytest.raises(ConfigError) as raised:
        load_config(path, ENV)
    assert re.match(r"\(file\): ", raised.value.problems[0]), raised.value.problems


@pytest.mark.parametrize(
    ("options", "path"),
    [
        ("{logit_bias: {50256: -100}}", "routes.chat.options.logit_bias.50256:"),
        ("{extra_body: {blob: !!binary aGk=}}", "routes.chat.options:"),
    ],
    ids=["int-key", "binary"],
)
def test_options_that_cannot_become_json_are_refused(options: str, path: str) -> None:
    # Both loaded fine, then every request on the route failed to encode its
    # upstream body (orjson: "Dict key must be str" / "bytes not serializable").
    text = (
        "providers: {mock: {kind: mock}}\nmodels: {small: {provider: mock}}\n"
        f"routes: {{chat: {{pool: [small], options: {options}}}}}\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_config_text(text, "fuzz.yaml", ENV)
    assert any(p.startswith(path) for p in raised.value.problems), raised.value.problems
