"""Load an experiment spec: defaults <- YAML file <- CLI flags <- dotted ``--set`` overrides.

Every layer is read as dotted keys (``train.lr``) and applied in order, so each key has one
syntax in the three places: short forms (``split: column:NAME``, ``--split column:NAME``,
``--set split.method=column:NAME``) are expanded the same way wherever they come from.

The keys a user set explicitly are the ones given in any layer; pydantic records them in each
section's ``model_fields_set``, which survives ``model_copy`` and is not part of equality.
:func:`explicit_keys` reads them back as dotted keys (:mod:`scifm.config.applicability` warns about
the ones the chosen recipe and families do not read).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from scifm.config.schema import ExperimentConfig
from scifm.config.split import expand_split
from scifm.errors import ConfigError
from scifm.utils.io import atomic_write_text

PATH_KEYS = ("data.path", "data.val_path", "data.test_path", "model.init", "train.fsdp_config",
             "train.deepspeed", "automl.auto.embed")
"""Keys naming an input file or folder. A relative one in a YAML spec is relative to that spec's
folder (so ``configs/`` work from any working directory); on the command line it is relative to
the working directory; ``config.yaml`` of a run stores them absolute (re-runnable from anywhere)."""


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


def dotted_items(tree: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """The leaves of a nested mapping as ``("a.b", value)`` pairs (an empty mapping is a leaf)."""
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from dotted_items(value, dotted + ".")
        else:
            yield dotted, value


def expand_shorthand(key: str, value: Any) -> list[tuple[str, Any]]:
    """One dotted key and its short form as the full dotted keys.

    ``("split", "scaffold")`` -> ``[("split.method", "scaffold")]``;
    ``("split.method", "column:fold")`` -> ``[("split.method", "predefined"),
    ("split.column", "fold")]``; any other key is returned as it is.

    Raises
    ------
    ConfigError
        ``column:`` without a column name.
    """
    if key == "split.method" and isinstance(value, dict) and list(value) == ["column"]:
        value = f"column:{value['column'] or ''}"  # ``--set split.method=column:`` read as YAML
    if key not in ("split", "split.method") or not isinstance(value, str):
        return [(key, value)]
    try:
        expanded = expand_split(value)
    except ValueError as e:
        raise ConfigError(f"invalid config: {key}: {e}; got {value!r}") from None
    if not isinstance(expanded, dict):  # a str always expands to a mapping
        return [(key, value)]
    return [(f"split.{k}", v) for k, v in expanded.items()]


def explicit_keys(cfg: BaseModel, prefix: str = "") -> frozenset[str]:
    """Dotted keys given explicitly (YAML file, CLI flags, ``--set``, or constructor arguments).

    Read from pydantic's ``model_fields_set`` of every section; a section holding typed
    sub-sections by name (``params.<family>``) is walked into. ``{"train.lr", "split.method"}``
    for ``--set train.lr=3e-5 --split random``.
    """
    keys: set[str] = set()
    for name in cfg.model_fields_set:
        value = getattr(cfg, name)
        dotted = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            keys |= explicit_keys(value, dotted + ".")
        elif isinstance(value, dict) and value and all(isinstance(v, BaseModel)
                                                       for v in value.values()):
            for sub, section in value.items():
                keys |= explicit_keys(section, f"{dotted}.{sub}.")
        else:
            keys.add(dotted)
    return frozenset(keys)


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
    layers = [
        _beside(Path(path), dotted_items(_read_yaml(Path(path)))) if path is not None else [],
        [(key, value) for key, value in (flags or {}).items() if value is not None],
        [parse_override(item) for item in overrides],
    ]
    tree: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer:
            for full_key, full_value in expand_shorthand(key, value):
                set_dotted(tree, full_key, full_value)
    try:
        return ExperimentConfig.model_validate(tree)
    except ValidationError as e:
        raise ConfigError(_format_error(e)) from e


def _beside(spec: Path, items: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The items of a YAML spec with relative :data:`PATH_KEYS` joined to the spec's folder."""
    def fix(key: str, value: Any) -> Any:
        if key in PATH_KEYS and isinstance(value, str) and value \
                and not Path(value).expanduser().is_absolute():
            return str(spec.parent / value)
        return value
    return [(key, fix(key, value)) for key, value in items]


def _read_yaml(p: Path) -> dict[str, Any]:
    """The mapping in a YAML spec file (empty file: ``{}``)."""
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        from scifm.data.files import utf8_problem  # the same line as for a data file

        raise ConfigError(f"config file {utf8_problem(p) or f'{p} is not valid UTF-8'}") \
            from None
    try:
        loaded = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {p} is not valid YAML: {e}".splitlines()[0]) from e
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {p} must hold a mapping at the top level")
    return loaded


def config_to_yaml(cfg: ExperimentConfig) -> str:
    """The fully resolved config as YAML text."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)


def save_config(cfg: ExperimentConfig, path: str | Path) -> None:
    """Write the fully resolved config to ``path`` atomically, input paths made absolute (a
    relative one would otherwise be read relative to ``path``'s folder when re-run)."""
    tree = cfg.model_dump(mode="json")
    for key, value in list(dotted_items(tree)):
        if key in PATH_KEYS and isinstance(value, str) and value:
            set_dotted(tree, key, str(Path(value).expanduser().absolute()))
    atomic_write_text(path, yaml.safe_dump(tree, sort_keys=False))
