"""`python -m gateway --config FILE --host H --port P`: start the gateway under uvicorn.

`python -m gateway --model NAME=openai/NAME --api_base URL [--port P]` serves one model
without a file, as `litellm --model ... --api_base ...` does (the key comes from the
provider's usual variable, such as OPENAI_API_KEY, as in LiteLLM).
"""

from __future__ import annotations

import argparse
import logging
import sys

from gateway.config import ModelList, parse_model_list
from gateway.errors import ConfigError


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line flags; each overrides its GATEWAY_* variable."""
    parser = argparse.ArgumentParser(
        prog="python -m gateway", description="Run the Detour gateway."
    )
    parser.add_argument("--config", help="LiteLLM model_list YAML (GATEWAY_CONFIG)")
    parser.add_argument("--host", help="address to listen on (GATEWAY_HOST, default 127.0.0.1)")
    parser.add_argument("--port", help="port to listen on (GATEWAY_PORT, default 4000)")
    parser.add_argument(
        "--allowed-origins", help="comma-separated page origins (GATEWAY_ALLOWED_ORIGINS)"
    )
    parser.add_argument(
        "--allow-private-upstreams", action="store_true", default=None,
        help="let the relay reach private/loopback addresses (GATEWAY_ALLOW_PRIVATE_UPSTREAMS)",
    )  # fmt: skip
    parser.add_argument("--name", help="display name shown in the page (GATEWAY_NAME)")
    parser.add_argument(
        "--model", action="append", metavar="NAME[=LITELLM_MODEL]",
        help="serve this model without a config file (repeatable), as litellm --model does",
    )  # fmt: skip
    parser.add_argument(
        "--api_base", "--api-base", dest="api_base", help="the --model's API base URL"
    )
    parser.add_argument(
        "--log-level", help="critical, error, warning, info or debug (GATEWAY_LOG_LEVEL)"
    )
    return parser.parse_args(argv)


def one_liner_models(names: list[str], api_base: str | None, config: str | None) -> ModelList:
    """The model list `--model NAME=MODEL --api_base URL` stands for."""
    if config:
        raise ConfigError("use --config or --model, not both")
    entries = []
    for given in names:
        name, _, target = given.partition("=")
        params = {"model": target or name, **({"api_base": api_base} if api_base else {})}
        entries.append({"model_name": name, "litellm_params": params})
    return parse_model_list({"model_list": entries}, "--model")


def main(argv: list[str] | None = None) -> int:
    """Validate settings and the model list, then serve; exit 2 with one line on bad input."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        from gateway.app import create_app
        from gateway.config import load_model_list
        from gateway.settings import load_settings

        settings = load_settings(
            config=args.config,
            host=args.host,
            port=args.port,
            allowed_origins=args.allowed_origins,
            allow_private_upstreams=args.allow_private_upstreams,
            name=args.name,
            log_level=args.log_level,
        )
        models = (
            one_liner_models(args.model, args.api_base, args.config)
            if args.model
            else load_model_list(settings.config_path)
        )
    except ConfigError as exc:
        print(f"gateway: {exc.message}", file=sys.stderr)
        return 2

    import uvicorn

    from gateway.server import server_config

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("gateway").setLevel(settings.log_level.upper())
    app = create_app(settings, models=models)
    print(
        f"Detour gateway on http://{settings.host}:{settings.port} "
        f"({len(models.names)} model(s), token {'required' if settings.token else 'off'})",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.Server(server_config(app, settings)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
