"""The plugin host: finds dataset plugins, keeps the registry, validates options, loads.

    import numrec
    numrec.list_datasets()                      # {"mnist": "...", ...}
    ds = numrec.load_dataset("fashion-mnist", data_dir="~/data/fashion")

Nothing happens at import: the pluggy ``PluginManager`` is built on first need. It
holds the built-in plugins (the import packages in ``BUILTIN_PLUGINS``, registered like
any other plugin) and the outside plugins of the ``numrec`` entry-point group, which
``$NUMREC_LOAD_PLUGINS`` limits (unset: all; empty: none; else comma-separated names).
A plugin that fails to import or whose hook raises is reported by name, with a
``PluginWarning``, and everything else keeps working. The data-set registry is rebuilt
whenever the set of registered plugins changes, so tests can ``pm.register`` a
throwaway plugin (see ``temporary_plugin``).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import importlib.util
import inspect
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from . import __version__, hookspecs
from .dataset import Dataset
from .errors import DatasetError
from .spec import DatasetSpec, Option

BUILTIN_PLUGINS = ("numrec_mnist", "numrec_emnist", "numrec_csv", "numrec_images")
ENTRY_POINT_GROUP = "numrec"
_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n"}


class PluginWarning(RuntimeWarning):
    """A plugin could not be loaded or registered; the message names it."""


@dataclass
class _Plugin:
    name: str
    kind: str  # "builtin" or "outside"
    version: str | None = None
    error: str | None = None


@dataclass
class _Registry:
    key: tuple  # the registered plugins this registry was built from
    specs: dict[str, tuple[DatasetSpec, str]] = field(default_factory=dict)
    conflicts: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # plugin -> hook failure


class _Host:
    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("numrec")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, _Plugin] = {}
        self.registry: _Registry | None = None


_host: _Host | None = None
_lock = threading.RLock()


def get_plugin_manager() -> pluggy.PluginManager:
    """The plugin manager, with the built-in and the allowed outside plugins registered."""
    return _get_host().pm


def _reset() -> None:
    """Forget the plugin manager and registry; the next use rebuilds them (for tests)."""
    global _host
    with _lock:
        _host = None


@contextmanager
def temporary_plugin(plugin: object, name: str | None = None) -> Iterator[pluggy.PluginManager]:
    """Register ``plugin`` (a module or object with hookimpls) for the ``with`` block."""
    pm = get_plugin_manager()
    pm.register(plugin, name=name)
    try:
        yield pm
    finally:
        pm.unregister(plugin)


def call_training_hook(hook: str, **values: Any) -> None:
    """Call every plugin's implementation of training event ``hook`` (``train_begin``,
    ``epoch_end``, ``train_end``) with the arguments it names. A plugin that fails is
    reported by name and dropped from the rest of this event; training goes on."""
    caller = getattr(get_plugin_manager().hook, hook, None)
    if caller is None:
        return
    for impl in caller.get_hookimpls():
        try:
            impl.function(**{name: values[name] for name in impl.argnames})
        except Exception as e:  # noqa: BLE001 - a logger must not end a training run
            _warn(f"plugin {impl.plugin_name!r} failed in its {hook} hook: {e!r}")


def dataset_specs() -> dict[str, DatasetSpec]:
    """Every data set that can be loaded, by name (sorted)."""
    return {name: spec for name, (spec, _) in sorted(_registry().specs.items())}


def list_datasets() -> dict[str, str]:
    """Every data set that can be loaded: name -> one-line description."""
    return {name: spec.description for name, spec in dataset_specs().items()}


def list_plugins() -> list[dict[str, Any]]:
    """Every plugin: name, version, kind ("builtin"/"outside"), datasets, error (or None)."""
    host = _get_host()
    registry = _registry()
    owned: dict[str, list[str]] = {}
    for name, (_, owner) in sorted(registry.specs.items()):
        owned.setdefault(owner, []).append(name)
    # the plugins loaded at start-up (broken ones too), then any registered since
    infos = list(host.plugins.values())
    infos += [_Plugin(n, "outside") for n, _ in host.pm.list_name_plugin() if n not in host.plugins]
    return [
        {"name": info.name, "version": info.version, "kind": info.kind,
         "datasets": owned.get(info.name, []),
         "error": info.error or registry.errors.get(info.name)}
        for info in infos
    ]  # fmt: skip


def validate_options(spec: DatasetSpec, options: dict[str, Any]) -> dict[str, Any]:
    """Check ``options`` against ``spec``; return all of them converted, defaults filled.

    Strings (from the command line) are converted to each option's type. An unknown
    option, a value of the wrong type or outside the choices raises ``DatasetError``
    naming the valid options.
    """
    known = {opt.name: opt for opt in spec.options}
    unknown = sorted(set(options) - set(known))
    if unknown:
        valid = ", ".join(f"{o.name} ({_type_name(o.type)})" for o in spec.options)
        raise DatasetError(
            f"data set {spec.name!r} has no option {', '.join(map(repr, unknown))}; "
            + (f"valid options: {valid}" if valid else "it takes no options")
        )
    result = {}
    for opt in spec.options:
        value = options.get(opt.name)
        result[opt.name] = opt.default if value is None else _convert(spec, opt, value)
    return result


def load_dataset(name: str, *, progress: bool | None = None, **options: Any) -> Dataset:
    """Load data set ``name`` (see ``list_datasets()``) with the loader's ``options``.

    ``progress`` (True/False) is passed on to a loader that takes a ``progress`` keyword
    (download and parse bars), unless the data set declares an option of that name.
    """
    registry = _registry()
    if name in registry.conflicts:
        raise DatasetError(_conflict_message(name, registry.conflicts[name]))
    if name not in registry.specs:
        known = sorted(registry.specs)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise DatasetError(
            f"unknown data set {name!r}{hint}; known data sets: {', '.join(known) or 'none'}"
        )
    spec, owner = registry.specs[name]
    arguments = validate_options(spec, options)
    if progress is not None and "progress" not in arguments and _takes_progress(spec.loader):
        arguments["progress"] = bool(progress)
    dataset = spec.loader(**arguments)
    if not isinstance(dataset, Dataset):
        raise DatasetError(
            f"plugin {owner!r}: the loader of {name!r} returned {type(dataset).__name__}; "
            f"expected a numrec.Dataset"
        )
    return dataset


def _takes_progress(loader) -> bool:
    try:
        parameters = inspect.signature(loader).parameters.values()
    except (TypeError, ValueError):  # a builtin or a C function: no signature to read
        return False
    return any(p.name == "progress" or p.kind is p.VAR_KEYWORD for p in parameters)


# --- building the plugin manager ------------------------------------------------------


def _get_host() -> _Host:
    global _host
    with _lock:
        if _host is None:
            host = _Host()
            _load_builtins(host)
            _load_outside(host)
            _host = host
        return _host


def _broken(host: _Host, info: _Plugin, error: Exception) -> None:
    info.error = f"{type(error).__name__}: {error}"
    host.plugins[info.name] = info
    _warn(f"numrec plugin {info.name!r} could not be loaded: {info.error}")


def _warn(message: str) -> None:
    # The user's call is several frames up and varies; the message names the plugin.
    warnings.warn(message, PluginWarning, stacklevel=2)


def _load_builtins(host: _Host) -> None:
    for name in BUILTIN_PLUGINS:
        info = _Plugin(name, "builtin")
        try:
            module = import_builtin(name)
            info.version = getattr(module, "__version__", __version__)
            host.pm.register(module, name=name)
        except Exception as e:
            _broken(host, info, e)
        else:
            host.plugins[name] = info


def import_builtin(name: str):
    """Import a built-in plugin package, also from a source checkout's ``plugins/``.

    An installed numrec has the built-ins as top-level packages; an editable install made
    before a built-in was added does not know it yet, so look in the checkout too.
    """
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        folder = Path(__file__).resolve().parent.parent / "plugins" / name
        if e.name != name or not (folder / "__init__.py").is_file():
            raise
    spec = importlib.util.spec_from_file_location(
        name, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _wanted_outside() -> set[str] | None:
    """The outside plugins ``$NUMREC_LOAD_PLUGINS`` allows (None: all of them)."""
    value = os.environ.get("NUMREC_LOAD_PLUGINS")
    if value is None:
        return None
    return {_normalise(n) for n in value.split(",") if n.strip()}


def _normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


def _load_outside(host: _Host) -> None:
    wanted = _wanted_outside()
    if wanted == set():
        return
    seen = {_normalise(name) for name in BUILTIN_PLUGINS}  # always loaded; not "missing"
    for ep in _entry_points():
        dist = getattr(ep, "dist", None)
        names = {_normalise(ep.name)} | ({_normalise(dist.name)} if dist else set())
        if wanted is not None and not names & wanted:
            continue
        seen |= names
        if ep.name in host.plugins or host.pm.has_plugin(ep.name):
            _warn(f"numrec plugin {ep.name!r} ({ep.value}) not loaded: that name is taken")
            continue
        info = _Plugin(ep.name, "outside", dist.version if dist else None)
        try:
            plugin = ep.load()
            info.version = info.version or getattr(plugin, "__version__", None)
            host.pm.register(plugin, name=ep.name)
        except Exception as e:
            _broken(host, info, e)
        else:
            host.plugins[ep.name] = info
    for missing in sorted((wanted or set()) - seen):
        _warn(f"NUMREC_LOAD_PLUGINS names {missing!r}, but no installed plugin has that name")


# --- the data-set registry -------------------------------------------------------------


def _registry() -> _Registry:
    """The registry for the plugins registered now (rebuilt when they change)."""
    host = _get_host()
    with _lock:
        key = tuple((name, id(plugin)) for name, plugin in host.pm.list_name_plugin())
        if host.registry is None or host.registry.key != key:
            host.registry = _collect(host.pm, key)
        return host.registry


def _collect(pm: pluggy.PluginManager, key: tuple) -> _Registry:
    registry = _Registry(key)
    # Call each plugin's hook on its own (in registration order, built-ins first) so that
    # every data set is attributed to its plugin and one failing hook spoils nothing else.
    for impl in pm.hook.register_datasets.get_hookimpls():
        if impl.hookwrapper or impl.wrapper:
            continue  # a wrapper registers nothing itself
        owner = impl.plugin_name
        mine: dict[str, DatasetSpec] = {}
        kwargs = {"register": _registrar(owner, mine)}
        try:
            impl.function(*(kwargs[arg] for arg in impl.argnames))
        except Exception as e:
            why = f"{type(e).__name__}: {e}"
            registry.errors[owner] = f"register_datasets failed: {why}"
            _warn(f"numrec plugin {owner!r} failed to register its data sets: {why}")
            continue
        for name, spec in mine.items():
            if name in registry.conflicts:
                registry.conflicts[name].append(owner)
            elif name in registry.specs:
                first = registry.specs.pop(name)[1]
                registry.conflicts[name] = [first, owner]
            else:
                registry.specs[name] = (spec, owner)
                continue
            message = _conflict_message(name, registry.conflicts[name])
            registry.errors.setdefault(owner, message)
            _warn(message)
    return registry


def _registrar(owner: str, mine: dict[str, DatasetSpec]):
    def register(spec: DatasetSpec) -> None:
        if not isinstance(spec, DatasetSpec):
            raise DatasetError(
                f"plugin {owner!r} registered {type(spec).__name__}; expected a DatasetSpec"
            )
        if not spec.name or not isinstance(spec.name, str) or not callable(spec.loader):
            raise DatasetError(f"plugin {owner!r}: {spec!r} needs a name and a callable loader")
        if spec.name in mine:
            raise DatasetError(f"plugin {owner!r} registered data set {spec.name!r} twice")
        mine[spec.name] = spec

    return register


def _conflict_message(name: str, owners: list[str]) -> str:
    who = " and ".join(repr(o) for o in owners)
    return (
        f"data set {name!r} is registered by more than one plugin ({who}); neither is "
        f"used - uninstall one, or leave it out with NUMREC_LOAD_PLUGINS"
    )


# --- option conversion -----------------------------------------------------------------


def _type_name(t: type) -> str:
    return {str: "text", int: "integer", float: "number", bool: "yes/no", Path: "path"}.get(
        t, getattr(t, "__name__", str(t))
    )


def _convert(spec: DatasetSpec, opt: Option, value: Any) -> Any:
    try:
        converted = _to_type(opt.type, value)
    except (TypeError, ValueError) as e:
        valid = ", ".join(o.name for o in spec.options)
        raise DatasetError(
            f"data set {spec.name!r}: option {opt.name} expects {_type_name(opt.type)}, "
            f"got {value!r} ({e}); valid options: {valid}"
        ) from None
    if opt.choices is not None and converted not in opt.choices:
        raise DatasetError(
            f"data set {spec.name!r}: option {opt.name} must be one of "
            f"{', '.join(map(str, opt.choices))}; got {value!r}"
        )
    return converted


def _to_type(t: type, value: Any) -> Any:
    if t is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError("use yes/no, true/false or 1/0")
    if t is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError("not a whole number")
        return int(value.strip() if isinstance(value, str) else value)
    if t is float:
        if isinstance(value, bool):
            raise ValueError("not a number")
        return float(value)
    if t is Path or (isinstance(t, type) and issubclass(t, os.PathLike)):
        if not isinstance(value, (str, os.PathLike)):
            raise TypeError("not a path")
        return Path(value).expanduser()
    if t is str:
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        # a whole number is a fine text value (e.g. csv's label_column=0, a column index)
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise TypeError("not text")
        return value
    return value if isinstance(value, t) else t(value)
