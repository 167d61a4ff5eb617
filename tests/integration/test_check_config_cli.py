"""``gateway check-config FILE``: the real CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

VALID = """
providers:
  mock: {kind: mock}
models:
  small: {provider: mock, model: small-1}
  large: {provider: mock, model: large-1}
routes:
  chat:
    pool: [small, large]
  summarize:
    pool: [large]
    policy: priority
"""


def check_config(
    tmp_path: Path, text: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "gateway.yaml"
    path.write_text(text)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "check-config", str(path)],
        capture_output=True,
        text=True,
        env=clean,
        cwd=ROOT,
        timeout=60,
    )


def assert_fails_with(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert message in result.stderr
    assert "gateway.yaml" in result.stderr
    assert "Traceback" not in result.stderr


def test_valid_file_exits_0_and_prints_routes(tmp_path: Path) -> None:
    result = check_config(tmp_path, VALID)
    assert result.returncode == 0, result.stderr
    assert "ok (2 routes, 2 models)" in result.stdout
    lines = result.stdout.splitlines()
    chat = next(line for line in lines if line.startswith("chat"))
    assert "small" in chat and "large" in chat
    assert any(line.startswith("summarize") for line in lines)


def test_unknown_pool_member(tmp_path: Path) -> None:
    text = VALID.replace("pool: [large]", "pool: [large, gtp-4o]")
    result = check_config(tmp_path, text)
    assert_fails_with(result, "routes.summarize.pool[1]: unknown model 'gtp-4o'")


def test_model_with_unknown_provider(tmp_path: Path) -> None:
    text = VALID.replace("models:\n", "models:\n  x: {provider: nowhere}\n")
    result = check_config(tmp_path, text)
    assert_fails_with(result, "models.x.provider: unknown provider 'nowhere'")


def test_unknown_policy(tmp_path: Path) -> None:
    text = VALID.replace("policy: priority", "policy: fastest")
    result = check_config(tmp_path, text)
    assert_fails_with(result, "routes.summarize.policy: unknown policy 'fastest'")


def test_malformed_yaml_names_line_and_column(tmp_path: Path) -> None:
    text = VALID.replace("pool: [small, large]", "pool: [small, large")
    result = check_config(tmp_path, text)
    assert_fails_with(result, "malformed YAML")
    assert "line 10, column" in result.stderr


def test_unknown_key(tmp_path: Path) -> None:
    text = VALID.replace("pool: [small, large]", "poool: [small, large]")
    result = check_config(tmp_path, text)
    assert_fails_with(result, "routes.chat.poool: unknown key")


def test_env_interpolation(tmp_path: Path) -> None:
    text = VALID.replace("small-1", "'${SMALL_MODEL}'").replace("large-1", "'${LARGE:-large-2}'")
    result = check_config(tmp_path, text, {"SMALL_MODEL": "small-from-env"})
    assert result.returncode == 0, result.stderr
    assert "small-from-env" in result.stdout
    assert "large-2" in result.stdout


def test_unset_env_var_is_named_with_its_path(tmp_path: Path) -> None:
    text = VALID.replace("small-1", "'${SMALL_MODEL}'")
    result = check_config(tmp_path, text)
    assert_fails_with(result, "models.small.model: environment variable 'SMALL_MODEL' is not set")


def test_missing_file(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "check-config", str(tmp_path / "nope.yaml")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 1
    assert "cannot read" in result.stderr


def test_demo_config_checks_out() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "check-config", "config/demo.yaml"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    for route in ("chat", "summarize", "moderation", "stream-demo"):
        assert route in result.stdout


PROFILES = (
    VALID.replace(
        "    pool: [small, large]\n",
        "    pool: [small, large]\n    profiles:\n      premium: [large]\n      basic: [small]\n",
    )
    + "profile: basic\n"
)


def routes(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "gateway.yaml"
    path.write_text(PROFILES)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "routes", "--config", str(path), *args],
        capture_output=True,
        text=True,
        env=clean,
        cwd=ROOT,
        timeout=60,
    )


def chat_row(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return next(line for line in result.stdout.splitlines() if line.startswith("chat"))


def test_profile_precedence_flag_over_env_over_file(tmp_path: Path) -> None:
    # The file says basic.
    row = chat_row(routes(tmp_path))
    assert "basic" in row and "large" not in row
    # The environment beats the file.
    row = chat_row(routes(tmp_path, env={"GATEWAY_PROFILE": "premium"}))
    assert "premium" in row and "small" not in row
    # The flag beats the environment.
    row = chat_row(routes(tmp_path, "--profile", "basic", env={"GATEWAY_PROFILE": "premium"}))
    assert "basic" in row and "large" not in row


def test_routes_with_unknown_profile_exits_1(tmp_path: Path) -> None:
    result = routes(tmp_path, "--profile", "gold")
    assert result.returncode == 1
    assert "gold" in result.stderr
