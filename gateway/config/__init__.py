"""Config: the YAML schema, its loader, and the environment settings."""

from gateway.config.loader import ConfigError, load_config, load_config_text
from gateway.config.schema import GatewayConfig

__all__ = ["ConfigError", "GatewayConfig", "load_config", "load_config_text"]
