"""Loading and validating YAML configuration files.

Every service validates its file at load with a voluptuous schema. Any problem (missing file,
bad YAML, unknown key, wrong type) becomes a :class:`ConfigError` whose message is one line
naming the file and the key, suitable for printing by :func:`exit_on_config_error`.
"""
from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import voluptuous as vol
import yaml

T = TypeVar("T")


class ConfigError(Exception):
    """A configuration file is missing or invalid; the message is a single line."""


def _key_path(path: list[Any]) -> str:
    """Render a voluptuous error path such as ``['api', 'port']`` as ``api.port``."""
    parts: list[str] = []
    for element in path:
        if isinstance(element, int):
            parts.append(f"[{element}]")
        else:
            parts.append(("." if parts else "") + str(element))
    return "".join(parts) or "(top level)"


def validate(data: Any, schema: vol.Schema, source: str) -> Any:
    """Validate ``data`` against ``schema``; raise a one-line :class:`ConfigError`."""
    try:
        return schema(data)
    except vol.MultipleInvalid as exc:
        first = sorted(exc.errors, key=lambda e: [str(p) for p in e.path])[0]
        raise ConfigError(f"{source}: {_key_path(first.path)}: {first.msg}") from None
    except vol.Invalid as exc:
        raise ConfigError(f"{source}: {_key_path(exc.path)}: {exc.msg}") from None


def load_yaml(path: str | Path, loader: type[yaml.SafeLoader] = yaml.SafeLoader) -> Any:
    """Read a YAML file, turning I/O and syntax errors into :class:`ConfigError`.

    ``loader`` may be a SafeLoader subclass with extra tags (the tenant config's secrets)."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{source}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc.strerror}") from None
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader (sub)class
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{source}: invalid YAML{where}: {problem}") from None


def load_config(path: str | Path, schema: vol.Schema,
                loader: type[yaml.SafeLoader] = yaml.SafeLoader) -> dict[str, Any]:
    """Load a YAML mapping from ``path`` and validate it with ``schema``."""
    data = load_yaml(path, loader)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: (top level): expected a mapping")
    return validate(data, schema, str(path))


def exit_on_config_error(func: Callable[..., T]) -> Callable[..., T]:
    """Decorate a console-script ``main`` so a ConfigError prints one line and exits 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None

    return wrapper


# Reusable schema pieces -------------------------------------------------------------------

Port = vol.All(int, vol.Range(min=0, max=65535), msg="expected a port number (0-65535)")
NonEmptyStr = vol.All(str, vol.Length(min=1), msg="expected a non-empty string")


def host_port(value: Any) -> str:
    """Validate a ``host:port`` string (IPv6 hosts in brackets)."""
    if not isinstance(value, str) or ":" not in value:
        raise vol.Invalid("expected host:port")
    _host, _, port = value.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise vol.Invalid("expected host:port with a port number")
    return value


def split_host_port(value: str, default_port: int) -> tuple[str, int]:
    """Split ``host:port`` (or a bare host) into its parts, stripping IPv6 brackets."""
    host, sep, port = value.rpartition(":")
    if not sep or "]" in port:
        host, port = value, str(default_port)
    return host.strip("[]"), int(port)


def listen_schema(default_port: int) -> vol.Schema:
    """Schema of the ``api`` section every service has: where it listens and its public URL."""
    return vol.Schema(
        {
            vol.Optional("listen", default="127.0.0.1"): NonEmptyStr,
            vol.Optional("port", default=default_port): Port,
            vol.Optional("public_url", default=""): str,
        }
    )


def readable_file(value: Any) -> str:
    """Validate the path of an existing, readable file (certificates, keys)."""
    if not isinstance(value, str) or not value:
        raise vol.Invalid("expected a file path")
    try:
        with open(value, "rb"):
            pass
    except OSError as exc:
        raise vol.Invalid(f"cannot read {value}: {exc.strerror}") from None
    return value


def string_list(value: Any) -> list[str]:
    """Accept a string or a list of strings, returning a list (for server lists)."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise vol.Invalid("expected a string or a list of strings")


ZOOKEEPER_TLS_SCHEMA = vol.Schema(
    {
        vol.Required("cert"): readable_file,  # PEM client certificate (its subject = identity)
        vol.Required("key"): readable_file,  # PEM private key of ``cert``
        vol.Required("ca"): readable_file,  # PEM CA bundle the server's certificate chains to
        # Extra x509 identities (certificate subjects such as ``CN=nodepool``) allowed on the
        # znodes this client creates, besides its own (zuul.lib.zk).
        vol.Optional("acl", default=list): [NonEmptyStr],
    }
)

ZOOKEEPER_SCHEMA = vol.Schema(
    {
        vol.Required("hosts"): vol.All(string_list, [host_port], vol.Length(min=1)),
        vol.Optional("chroot", default=""): str,
        vol.Optional("session_timeout", default=10.0): vol.Coerce(float),
        vol.Optional("tls"): ZOOKEEPER_TLS_SCHEMA,
    }
)

# gear's TLS parameters (PEM paths): all three or none. With them the connection is TLS and
# presents ``ssl_cert`` as the client certificate (zuul.lib.gearman).
GEARMAN_TLS_SCHEMA: dict[vol.Marker, Any] = {
    vol.Inclusive("ssl_key", "tls", msg="ssl_key, ssl_cert and ssl_ca go together"): NonEmptyStr,
    vol.Inclusive("ssl_cert", "tls", msg="ssl_key, ssl_cert and ssl_ca go together"): NonEmptyStr,
    vol.Inclusive("ssl_ca", "tls", msg="ssl_key, ssl_cert and ssl_ca go together"): NonEmptyStr,
}

GEARMAN_SCHEMA = vol.Schema(
    {vol.Required("servers"): vol.All(string_list, [host_port], vol.Length(min=1)),
     **GEARMAN_TLS_SCHEMA}
)

AUTH_SCHEMA = vol.Schema(
    {
        vol.Optional("realm", default="zuul"): NonEmptyStr,
        vol.Required("algorithm"): vol.In(["HS256", "RS256"], msg="expected HS256 or RS256"),
        vol.Optional("secret"): NonEmptyStr,
        vol.Optional("public_key_file"): NonEmptyStr,
        vol.Required("issuer"): NonEmptyStr,
        vol.Required("audience"): NonEmptyStr,
        vol.Optional("admin_claim", default="zuul.admin"): NonEmptyStr,
        vol.Optional("leeway", default=0): vol.All(int, vol.Range(min=0)),
        # OpenIDConnect: ``issuer`` is an OpenID Connect provider the dashboard signs in
        # with (authorization code + PKCE) as ``client_id`` (default: the audience).
        vol.Optional("driver", default="JWT"): vol.In(
            ["JWT", "OpenIDConnect"], msg="expected JWT or OpenIDConnect"),
        vol.Optional("client_id"): NonEmptyStr,
        vol.Optional("scope", default="openid profile"): NonEmptyStr,
    }
)
