"""Environment settings. Precedence: CLI flag > environment > config file > default."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class EnvSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    config: str | None = None
    host: str | None = None
    port: int | None = None
    workers: int | None = None
    redis_url: str | None = None
    profile: str | None = None
    log_level: str | None = None
    api_keys: str | None = None
    admin_keys: str | None = None


DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_CONFIG = "config/demo.yaml"
