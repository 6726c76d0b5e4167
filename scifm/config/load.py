"""Load an experiment spec: defaults <- YAML file <- CLI flags <- dotted ``--set`` overrides."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from scifm.config.schema import ExperimentConfig
from scifm.errors import ConfigError
from scifm.utils.io import atomic_write_text


def parse_override(item: str) -> tuple[str, Any]:
    """Split ``"train.lr=3e-5"`` into ``("train.lr", 3e-05)``; the value is parsed as YAML.

    Raises
    ------
    ConfigError
        If the item has no ``=`` or an empty key.
    """
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set expects KEY=VALUE (e.g. train.lr=3e-5), got {item!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key, value


def set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    """Set ``tree["a"]["b"] = value`` for ``key = "a.b"``, creating sub-dicts as needed."""
    *parents, leaf = key.split(".")
    node = tree
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {key!r}: {part!r} is a value, not a section")
        node = child
    node[leaf] = value


def _format_error(err: ValidationError) -> str:
    first = err.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "<root>"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    if first["type"] == "literal_error" and "expected" in first.get("ctx", {}):
        msg = f"must be one of {first['ctx']['expected']}"
    more = f" (and {len(err.errors()) - 1} more problem(s))" if len(err.errors()) > 1 else ""
    return f"invalid config: {field}: {msg}; got {first.get('input')!r}{more}"


def load_config(
    path: str | Path | None = None,
    flags: Mapping[str, Any] | None = None,
    overrides: Iterable[str] = (),
) -> ExperimentConfig:
    """Build a validated :class:`ExperimentConfig`.

    Parameters
    ----------
    path
        Optional YAML file with (part of) the spec.
    flags
        Dotted keys set by CLI flags (``{"data.path": "x.csv"}``); ``None`` values are ignored.
    overrides
        ``KEY=VALUE`` strings from ``--set``; applied last.

    Raises
    ------
    ConfigError
        Unreadable YAML, unknown keys, or values that fail validation (the message names the
        field and what is allowed).
    """
    tree: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"config file {p} is not valid YAML: {e}".splitlines()[0]) from e
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {p} must hold a mapping at the top level")
        tree = loaded
    for key, value in (flags or {}).items():
        if value is not None:
            set_dotted(tree, key, value)
    for item in overrides:
        set_dotted(tree, *parse_override(item))
    try:
        return ExperimentConfig.model_validate(tree)
    except ValidationError as e:
        raise ConfigError(_format_error(e)) from e


def config_to_yaml(cfg: ExperimentConfig) -> str:
    """The fully resolved config as YAML text."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)


def save_config(cfg: ExperimentConfig, path: str | Path) -> None:
    """Write the fully resolved config to ``path`` atomically."""
    atomic_write_text(path, config_to_yaml(cfg))
