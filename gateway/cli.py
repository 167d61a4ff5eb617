"""The ``gateway`` command: serve, check-config, routes, usage, keys."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from typing import Any

from gateway.accounting.report import add_usage_command, cmd_usage
from gateway.config.loader import ConfigError, load_config, load_config_file
from gateway.config.settings import DEFAULT_CONFIG, DEFAULT_HOST, DEFAULT_PORT, EnvSettings
from gateway.governance.cli import add_keys_command, cmd_keys
from gateway.routing.explain import explain_routes, explain_view, format_table
from gateway.routing.policies import Planner
from gateway.routing.table import RouteTable, check_profile
from gateway.routing.triage.cli import add_triage_command, cmd_triage


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description="OpenAI-compatible LLM gateway")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", help="config file (env GATEWAY_CONFIG)")
    serve.add_argument("--host", help=f"bind address (env GATEWAY_HOST, default {DEFAULT_HOST})")
    serve.add_argument("--port", type=int, help=f"port (env GATEWAY_PORT, default {DEFAULT_PORT})")
    serve.add_argument("--workers", type=int, help="worker processes (default 1)")
    serve.add_argument("--profile", help="active QoS profile (env GATEWAY_PROFILE)")
    serve.add_argument("--redis-url", help="shared state in Redis (env GATEWAY_REDIS_URL)")
    serve.add_argument("--log-level", help="debug | info | warning | error")

    check = commands.add_parser("check-config", help="validate a config file")
    check.add_argument("file")

    routes = commands.add_parser("routes", help="show what goes where for a profile")
    routes.add_argument("--config", help="config file (env GATEWAY_CONFIG)")
    routes.add_argument("--profile", help="profile to resolve (default: the active one)")
    routes.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_usage_command(commands)
    add_triage_command(commands)
    add_keys_command(commands)
    return parser


def _load_or_exit(path: str) -> RouteTable:
    try:
        return RouteTable(load_config(path))
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        raise SystemExit(1) from None


def cmd_check_config(args: argparse.Namespace) -> int:
    table = _load_or_exit(args.file)
    print(f"{args.file}: ok ({len(table.routes)} routes, {len(table.aliases)} models)")
    planner = Planner(half_open=table.config.resilience.half_open)
    print(format_table(explain_routes(table, table.config.profile, planner)))
    return 0


def cmd_routes(args: argparse.Namespace) -> int:
    env = EnvSettings()
    path = args.config or env.config or DEFAULT_CONFIG
    table = _load_or_exit(path)
    profile = args.profile or env.profile or table.config.profile
    try:
        check_profile(table.profiles, profile)
    except ConfigError as exc:
        print("; ".join(exc.problems), file=sys.stderr)
        return 1
    view = explain_view(table, profile, Planner(half_open=table.config.resilience.half_open))
    if args.json:
        import orjson

        sys.stdout.write(orjson.dumps(view, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(format_table(view["data"]))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway.app import AppOptions, create_app
    from gateway.observability.exposition import prepare_multiprocess_metrics
    from gateway.reload import run_server

    env = EnvSettings()
    config_path = args.config or env.config or DEFAULT_CONFIG
    try:
        config, digest = load_config_file(config_path)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    # Workers rebuild the app from the environment, so flags travel through it.
    overrides = {
        "GATEWAY_CONFIG": config_path,
        "GATEWAY_PROFILE": args.profile,
        "GATEWAY_REDIS_URL": args.redis_url,
        "GATEWAY_LOG_LEVEL": args.log_level,
    }
    for name, value in overrides.items():
        if value:
            os.environ[name] = value
    host = args.host or env.host or DEFAULT_HOST
    port = args.port if args.port is not None else (env.port or DEFAULT_PORT)
    workers = args.workers or env.workers or 1
    prepare_multiprocess_metrics(workers)  # several workers: /metrics sums them all
    app: Any = "gateway.app:app_from_env"
    try:
        if workers == 1:
            # One process: build the app from the config already loaded, not a second time.
            app = create_app(
                config,
                AppOptions(
                    config_path=config_path,
                    config_digest=digest,
                    redis_url=os.environ.get("GATEWAY_REDIS_URL"),
                    profile=os.environ.get("GATEWAY_PROFILE"),
                    log_level=os.environ.get("GATEWAY_LOG_LEVEL"),
                ),
            )
        else:
            # Each worker builds its own route table; here the profile names are enough.
            check_profile(
                config.known_profiles(), os.environ.get("GATEWAY_PROFILE") or config.profile
            )
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    # run_server: uvicorn's supervisor, but SIGHUP reloads workers (gateway.reload).
    run_server(
        uvicorn.Config(
            app,
            factory=workers > 1,
            host=host,
            port=port,
            workers=workers,
            loop="uvloop",
            http="httptools",
            access_log=False,
            # The gateway reads neither the client address nor the scheme, so uvicorn's
            # X-Forwarded-* middleware would only add a layer to every request.
            proxy_headers=False,
            log_level="warning",
            # The gateway ends open streams itself when server.shutdown_grace_s is over
            # (gateway.lifecycle.shutdown); a second later uvicorn cancels what is left,
            # and requests not yet answered get a 503 from the endpoint.
            timeout_graceful_shutdown=math.ceil(config.server.shutdown_grace_s) + 1,
        )
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"serve": cmd_serve, "check-config": cmd_check_config, "routes": cmd_routes}
    handlers["usage"] = cmd_usage
    handlers["triage"] = cmd_triage
    handlers["keys"] = cmd_keys
    try:
        code = handlers[args.command](args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`| head`, `| less` quit). Every command writes its
        # result to stdout last and only on success, so the exit code stays 0; stdout
        # points at /dev/null so the interpreter's own flush at exit stays quiet too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
