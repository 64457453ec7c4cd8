"""The plugin host: throwaway plugins, option validation, broken and duplicate plugins,
built-ins, outside plugins from entry points and NUMREC_LOAD_PLUGINS."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pluggy
import pytest

import numrec
from numrec import Dataset, DatasetError, DatasetSpec, Option, Split, hookimpl
from numrec.plugins import PluginWarning, temporary_plugin


def tiny_dataset(name: str, **meta) -> Dataset:
    split = Split(np.zeros((2, 3), np.uint8), np.array([0, 1]))
    return Dataset(name, split, split, ["a", "b"], source="memory", meta=meta)


TOY_OPTIONS = (
    Option("n", int, 3, help="how many"),
    Option("flag", bool, False, help="a switch"),
    Option("mode", str, "a", help="a choice", choices=("a", "b")),
    Option("rate", float, 0.5),
    Option("path", Path, None),
)


class Toy:
    """A throwaway plugin with one data set that takes options."""

    @hookimpl
    def register_datasets(self, register):
        register(DatasetSpec("toy", "a toy data set", lambda **kw: tiny_dataset("toy", **kw),
                             TOY_OPTIONS))  # fmt: skip


class Registers:
    """A plugin registering the given data-set names."""

    def __init__(self, *names: str) -> None:
        self.names = names

    @hookimpl
    def register_datasets(self, register):
        for name in self.names:
            register(DatasetSpec(name, f"{name} data", lambda name=name: tiny_dataset(name)))


class Broken:
    @hookimpl
    def register_datasets(self, register):
        raise RuntimeError("kaboom")


def test_import_numrec_loads_no_plugin():
    code = (
        "import sys, numrec, numrec.plugins; "
        "assert numrec.plugins._host is None; "
        "assert 'numrec_mnist' not in sys.modules; print('ok')"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.stdout.strip() == "ok", run.stderr


def test_builtins_are_plugins_like_any_other(numrec_plugin_host):
    datasets = numrec.list_datasets()
    for name in ("mnist", "fashion-mnist", "kmnist", "mnist-sample"):
        assert datasets[name]
    plugins = {p["name"]: p for p in numrec_plugin_host.list_plugins()}
    assert plugins["numrec_mnist"]["kind"] == "builtin"
    assert plugins["numrec_mnist"]["error"] is None
    assert set(plugins["numrec_mnist"]["datasets"]) >= {"mnist", "kmnist", "mnist-sample"}
    assert set(numrec_plugin_host.BUILTIN_PLUGINS) <= set(plugins)  # broken ones listed too
    numrec_plugin_host.get_plugin_manager().check_pending()


def test_throwaway_plugin_with_options(numrec_plugin_host):
    with temporary_plugin(Toy(), name="toy-plugin") as pm:
        pm.check_pending()
        assert numrec.list_datasets()["toy"] == "a toy data set"
        assert numrec.load_dataset("toy").meta == {
            "n": 3, "flag": False, "mode": "a", "rate": 0.5, "path": None,
        }  # fmt: skip
        # strings, as the command line passes them, are converted
        ds = numrec.load_dataset("toy", n="5", flag="yes", mode="b", rate="0.25", path="~/x")
        assert ds.meta == {
            "n": 5, "flag": True, "mode": "b", "rate": 0.25, "path": Path("~/x").expanduser(),
        }  # fmt: skip
        plugin = next(p for p in numrec_plugin_host.list_plugins() if p["name"] == "toy-plugin")
        assert plugin["datasets"] == ["toy"] and plugin["error"] is None
    assert "toy" not in numrec.list_datasets()  # gone with the plugin


@pytest.mark.parametrize(
    "options, message",
    [
        ({"size": 3}, "no option 'size'; valid options: n .integer., flag .yes/no., mode"),
        ({"n": "three"}, "option n expects integer, got 'three'.*valid options: n, flag"),
        ({"n": 2.5}, "option n expects integer"),
        ({"flag": "maybe"}, "option flag expects yes/no"),
        ({"mode": "c"}, "option mode must be one of a, b; got 'c'"),
        ({"rate": "fast"}, "option rate expects number"),
        ({"path": 7}, "option path expects path"),
    ],
)
def test_bad_options_name_the_valid_ones(numrec_plugin_host, options, message):
    with temporary_plugin(Toy(), name="toy-plugin"):
        with pytest.raises(DatasetError, match=message):
            numrec.load_dataset("toy", **options)


@pytest.mark.parametrize(
    "text, value",
    [("yes", True), ("no", False), ("TRUE", True), ("false", False), ("1", True), ("0", False)],
)
def test_bool_options_accept_words(numrec_plugin_host, text, value):
    spec = DatasetSpec("x", "x", tiny_dataset, (Option("flag", bool, None),))
    assert numrec_plugin_host.validate_options(spec, {"flag": text}) == {"flag": value}


def test_a_data_set_without_options_says_so(numrec_plugin_host):
    with temporary_plugin(Registers("plain"), name="plain-plugin"):
        with pytest.raises(DatasetError, match="takes no options"):
            numrec.load_dataset("plain", data_dir="/tmp")


def test_broken_plugin_is_reported_and_the_rest_works(numrec_plugin_host):
    pm = numrec_plugin_host.get_plugin_manager()
    pm.register(Broken(), name="broken-plugin")
    pm.register(Toy(), name="toy-plugin")
    with pytest.warns(PluginWarning, match="'broken-plugin' failed .*RuntimeError: kaboom"):
        datasets = numrec.list_datasets()
    assert "toy" in datasets and "mnist-sample" in datasets
    plugins = {p["name"]: p for p in numrec_plugin_host.list_plugins()}
    assert "kaboom" in plugins["broken-plugin"]["error"]
    assert plugins["toy-plugin"]["error"] is None
    assert len(numrec.load_dataset("toy").train) == 2


def test_duplicate_name_is_rejected_naming_both(numrec_plugin_host):
    pm = numrec_plugin_host.get_plugin_manager()
    pm.register(Registers("dup", "one"), name="first-plugin")
    pm.register(Registers("dup", "two"), name="second-plugin")
    with pytest.warns(PluginWarning, match="'dup' is registered by .*'first-plugin' and "
                      "'second-plugin'"):  # fmt: skip
        datasets = numrec.list_datasets()
    assert "dup" not in datasets and {"one", "two"} <= set(datasets)
    with pytest.raises(DatasetError, match="'first-plugin' and 'second-plugin'"):
        numrec.load_dataset("dup")


def test_duplicate_of_a_builtin_name(numrec_plugin_host):
    with temporary_plugin(Registers("mnist"), name="my-mnist"):
        with pytest.warns(PluginWarning):
            numrec.list_datasets()
        with pytest.raises(DatasetError, match="'numrec_mnist' and 'my-mnist'"):
            numrec.load_dataset("mnist")


def test_bad_registrations_break_only_that_plugin(numrec_plugin_host):
    class NotASpec:
        @hookimpl
        def register_datasets(self, register):
            register({"name": "dict"})

    with temporary_plugin(NotASpec(), name="sloppy"):
        with pytest.warns(PluginWarning, match="'sloppy'.*expected a DatasetSpec"):
            assert "mnist-sample" in numrec.list_datasets()


def test_loader_must_return_a_dataset(numrec_plugin_host):
    class Wrong:
        @hookimpl
        def register_datasets(self, register):
            register(DatasetSpec("wrong", "returns a dict", lambda: {}))

    with temporary_plugin(Wrong(), name="wrong-plugin"):
        with pytest.raises(DatasetError, match="'wrong-plugin'.*returned dict"):
            numrec.load_dataset("wrong")


def test_check_pending_catches_a_misspelt_hook(numrec_plugin_host):
    class Misspelt:
        @hookimpl
        def register_dataset(self, register):  # no such hook
            pass

    with temporary_plugin(Misspelt(), name="misspelt") as pm:
        with pytest.raises(pluggy.PluginValidationError):
            pm.check_pending()


def test_unknown_data_set_lists_the_known_ones(numrec_plugin_host):
    with pytest.raises(DatasetError, match="did you mean 'mnist'.*known data sets: .*kmnist"):
        numrec.load_dataset("mnsit")


# --- outside plugins, through (fake) entry points -------------------------------------


@pytest.fixture
def outside_plugins(tmp_path, monkeypatch, numrec_plugin_host):
    """Two installed plugins, one good and one that fails to import."""
    (tmp_path / "numrec_test_good.py").write_text(textwrap.dedent("""
        import numpy as np
        import numrec
        __version__ = "1.2.3"

        @numrec.hookimpl
        def register_datasets(register):
            register(numrec.DatasetSpec("outside", "from an entry point", lambda: None))
        """))  # fmt: skip
    (tmp_path / "numrec_test_bad.py").write_text("import no_such_module_anywhere\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("numrec_test_good", "numrec_test_bad"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    points = [
        EntryPoint("good", "numrec_test_good", "numrec"),
        EntryPoint("bad", "numrec_test_bad", "numrec"),
    ]
    monkeypatch.setattr(numrec_plugin_host, "_entry_points", lambda: points)
    return numrec_plugin_host


def loaded(host) -> dict[str, dict]:
    return {p["name"]: p for p in host.list_plugins() if p["kind"] == "outside"}


def test_all_outside_plugins_load_when_unset(outside_plugins, monkeypatch):
    monkeypatch.delenv("NUMREC_LOAD_PLUGINS")
    with pytest.warns(PluginWarning, match="'bad' could not be loaded: ModuleNotFoundError"):
        outside_plugins.get_plugin_manager()
    plugins = loaded(outside_plugins)
    assert plugins["good"]["datasets"] == ["outside"] and plugins["good"]["version"] == "1.2.3"
    assert "no_such_module_anywhere" in plugins["bad"]["error"]
    assert "outside" in numrec.list_datasets() and "mnist" in numrec.list_datasets()
    outside_plugins.get_plugin_manager().check_pending()


def test_empty_numrec_load_plugins_loads_none(outside_plugins):
    assert loaded(outside_plugins) == {}
    assert "outside" not in numrec.list_datasets()
    assert "mnist-sample" in numrec.list_datasets()  # built-ins are not outside plugins


def test_numrec_load_plugins_picks_by_name(outside_plugins, monkeypatch):
    monkeypatch.setenv("NUMREC_LOAD_PLUGINS", "good, not-installed")
    with pytest.warns(PluginWarning, match="'not-installed'"):
        outside_plugins.get_plugin_manager()
    assert list(loaded(outside_plugins)) == ["good"]


def test_progress_reaches_the_loaders_that_take_it(numrec_plugin_host):
    """numrec-train --quiet (and MPI ranks but 0) load with progress=False: it reaches a
    loader with a ``progress`` keyword and is not forced on one without."""
    seen = []

    def with_bars(n=1, progress=True):
        seen.append(progress)
        return tiny_dataset("bars")

    class Two:
        @hookimpl
        def register_datasets(self, register):
            register(DatasetSpec("bars", "d", with_bars, (Option("n", int, 1),)))
            register(DatasetSpec("plain", "d", lambda n: tiny_dataset("plain"),
                                 (Option("n", int, 1),)))  # fmt: skip

    with temporary_plugin(Two(), name="two"):
        numrec.load_dataset("bars", progress=False)
        numrec.load_dataset("bars")  # not given: the loader's own default
        assert seen == [False, True]
        assert numrec.load_dataset("plain", progress=False).name == "plain"
