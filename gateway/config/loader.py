"""Load a config file: YAML, then ``${ENV}`` interpolation, then the schema, then
cross-references. Every error names the YAML path at fault."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from gateway.config.schema import GatewayConfig
from gateway.config.validate import check_references

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


# libyaml's C parser when PyYAML was built with it: the pure-Python one takes ~15 s
# on a config with 10,000 routes.
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _parse_yaml(text: str) -> Any:
    """``safe_load``, except that a key given twice in one mapping is an error (plain
    YAML keeps the last one silently: a second ``chat:`` route would win).

    Strings, lists and mappings are built here directly from libyaml's nodes, which is
    several times faster than PyYAML's generic constructor; other scalars, and
    mappings with ``<<:`` merges, go through the safe constructor.
    """
    node = yaml.compose(text, Loader=_Loader)
    if node is None:
        return None
    constructor = yaml.constructor.SafeConstructor()
    memo: dict[int, Any] = {}

    def build(node: yaml.Node) -> Any:
        done = memo.get(id(node))
        if done is not None:
            return done  # an alias: the same node again
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _STR_TAG:
                return node.value
            return constructor.construct_object(node, deep=True)
        if isinstance(node, yaml.SequenceNode):
            items: list[Any] = []
            memo[id(node)] = items
            items.extend(build(child) for child in node.value)
            return items
        assert isinstance(node, yaml.MappingNode)
        if any(key.tag == _MERGE_TAG for key, _ in node.value):
            return constructor.construct_object(node, deep=True)
        mapping: dict[Any, Any] = {}
        memo[id(node)] = mapping
        for key_node, value_node in node.value:
            key = build(key_node)
            if isinstance(key, list | dict):
                raise yaml.constructor.ConstructorError(
                    None, None, "a sequence or mapping cannot be a key", key_node.start_mark
                )
            if key in mapping:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key}'", key_node.start_mark
                )
            mapping[key] = build(value_node)
        return mapping

    return build(node)


class ConfigError(Exception):
    """A config file that cannot be used; ``problems`` are ``path: message`` lines."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))

    def __str__(self) -> str:
        lines = "\n".join(f"  {p}" for p in self.problems)
        return f"invalid config {self.source}:\n{lines}"


def format_path(parts: tuple[int | str, ...] | list[int | str]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(root)"


def _interpolate(
    node: Any, path: tuple[int | str, ...], env: Mapping[str, str], problems: list[str]
) -> Any:
    if isinstance(node, str):
        if "${" not in node:
            return node

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            value = env.get(name)
            if value is None or (value == "" and default is not None):
                if default is None:
                    problems.append(
                        f"{format_path(path)}: environment variable '{name}' is not set"
                    )
                    return ""
                return default
            return value

        return _ENV_REF.sub(replace, node)
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if not isinstance(k, str):
                # Every key the schema knows is a string, and a non-string key in
                # `options` would make every request's body unencodable.
                problems.append(f"{format_path((*path, str(k)))}: a key must be a string; quote it")
                continue
            out[k] = _interpolate(v, (*path, k), env, problems)
        return out
    if isinstance(node, list):
        return [_interpolate(v, (*path, i), env, problems) for i, v in enumerate(node)]
    return node


def _pydantic_problems(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        elif err["type"] == "missing":
            message = "required key is missing"
        else:
            message = err["msg"].removeprefix("Value error, ")
        problems.append(f"{format_path(loc)}: {message}")
    return problems


def load_config_text(
    text: str, source: str = "<config>", env: Mapping[str, str] | None = None
) -> GatewayConfig:
    env = os.environ if env is None else env
    try:
        raw = _parse_yaml(text)  # safe: only plain data, no arbitrary objects
        return _validate(raw, source, env)
    except RecursionError:
        # A recursive alias (`a: &x [*x]`) or nesting deeper than Python's stack.
        problem = "(yaml): the document refers to itself or nests too deeply"
        raise ConfigError(source, [problem]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, [f"(yaml) {where}: malformed YAML: {problem}"]) from None


def _validate(raw: Any, source: str, env: Mapping[str, str]) -> GatewayConfig:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(source, ["(root): the config must be a mapping"])
    problems: list[str] = []
    raw = _interpolate(raw, (), env, problems)
    if problems:
        raise ConfigError(source, problems)
    try:
        config = GatewayConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(source, _pydantic_problems(exc)) from None
    problems = check_references(config)
    if problems:
        raise ConfigError(source, problems)
    return config


def read_config_file(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"(file): cannot read: {exc.strerror}"]) from None
    except UnicodeDecodeError as exc:
        problem = f"(file): not UTF-8 text (byte {exc.start}: {exc.reason})"
        raise ConfigError(str(path), [problem]) from None


def config_digest(text: str) -> str:
    """What a reload compares to tell a changed file from the same one read again."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> GatewayConfig:
    return load_config_text(read_config_file(path), str(path), env)


def load_config_file(path: str | Path) -> tuple[GatewayConfig, str]:
    """The config and the digest of the very text it was built from. Reading the file
    a second time for the digest would let a change made in between go unnoticed."""
    text = read_config_file(path)
    return load_config_text(text, str(path)), config_digest(text)
