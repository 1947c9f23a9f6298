"""The ``uvicorn`` command, generated from the option table.

Precedence, highest first: the command line, ``UVICORN_<NAME>`` environment
variables, the ``--config`` file (TOML or YAML), the defaults. Values from the
environment and the file go through the same click types as the command line,
so a bad value is a usage error (exit 2) naming the option wherever it came from.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

import uvicorn
from uvicorn.server.options import OPTIONS, OPTIONS_BY_NAME, Option

__all__ = ["main"]


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    click.echo(
        f"Running uvicorn {uvicorn.__version__} with {platform.python_implementation()} "
        f"{platform.python_version()} on {platform.system()}"
    )
    ctx.exit()


def _load_config_file(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Eager callback of ``--config``: the file becomes click's default map."""
    if not value or ctx.resilient_parsing:
        return value
    try:
        data = _parse_config_file(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    defaults: dict[str, Any] = {}
    for key, item in data.items():
        name = key.replace("-", "_")
        if name == "header":
            name = "headers"
        if name not in OPTIONS_BY_NAME or name == "config":
            raise click.BadParameter(f"unknown option {key!r} in {value}", ctx=ctx, param=param)
        option = OPTIONS_BY_NAME[name]
        if option.multiple and not isinstance(item, list):
            item = [item]
        defaults[name] = item
    ctx.default_map = {**(ctx.default_map or {}), **defaults}
    return value


def _parse_config_file(path: str) -> dict[str, Any]:
    suffix = Path(path).suffix.lower()
    raw = Path(path).read_bytes()
    if suffix == ".toml":
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover
            import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"invalid TOML in {path}: {exc}") from None
        data = data.get("tool", {}).get("uvicorn", data) if "tool" in data else data
    elif suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ValueError(
                "a YAML config file needs PyYAML (pip install 'uvicorn[standard]')"
            ) from None
        try:
            data = yaml.safe_load(raw) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"invalid YAML in {path}: {exc}") from None
    else:
        raise ValueError(f"{path}: config files must end in .toml, .yaml or .yml")
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a table of options")
    return data


def _click_option(option: Option) -> Callable[[Any], Any]:
    declarations = [option.cli_flag]
    if option.secondary:
        declarations = [f"{option.cli_flag}/{option.secondary}"]
    kwargs: dict[str, Any] = {
        "help": option.help,
        "default": option.default,
        "show_default": option.show_default if option.default not in (None, "") else False,
        "multiple": option.multiple,
    }
    if option.is_flag:
        kwargs["is_flag"] = True
        if option.default is None:
            kwargs["default"] = None
    elif option.type is not None:
        kwargs["type"] = option.type
    if option.metavar:
        kwargs["metavar"] = option.metavar
    if option.multiple:
        kwargs["default"] = None
    if option.name == "app_dir":
        kwargs["show_default"] = True
    return click.option(*declarations, option.name, **kwargs)


_VERSION = click.option(
    "--version",
    is_flag=True,
    callback=_print_version,
    expose_value=False,
    is_eager=True,
    help="Display the uvicorn version and exit.",
)
_CONFIG = click.option(
    "--config",
    "config",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    is_eager=True,
    expose_value=False,
    callback=_load_config_file,
    help="TOML or YAML file with options (below the command line and the environment).",
)


def _command(function: Callable[..., Any]) -> click.Command:
    decorators = []
    for option in OPTIONS:
        if option.name == "app_dir":
            decorators.append(_VERSION)  # where uvicorn lists it
        decorators.append(_click_option(option))
    decorators.append(_CONFIG)
    for decorator in reversed(decorators):
        function = decorator(function)
    function = click.argument("app", envvar="UVICORN_APP")(function)
    return click.command(context_settings={"auto_envvar_prefix": "UVICORN"})(function)


def _split_headers(values: tuple[str, ...] | None) -> list[tuple[str, str]]:
    headers = []
    for item in values or ():
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r} is not a Name:Value pair", param_hint="'--header'")
        headers.append((name.strip(), value.strip()))
    return headers


def _main(app: str, **options: Any) -> None:
    if options.get("reload") and options.get("workers") not in (None, 1):
        raise click.UsageError("--reload and --workers are mutually exclusive.")
    options["headers"] = _split_headers(options.get("headers"))
    for name in ("reload_dirs", "reload_includes", "reload_excludes"):
        options[name] = list(options.get(name) or [])
    if options.get("log_config") is None:
        options.pop("log_config", None)
    run(app, **options)


main = _command(_main)


def run(app: Any, **kwargs: Any) -> None:
    from uvicorn.server.run import run as run_server

    run_server(app, **kwargs)


if __name__ == "__main__":  # pragma: no cover
    main()
