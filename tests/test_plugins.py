"""The plugin manager: entry points, blocking, registration in code, listing."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import threading

import pytest

import resqplug
from resqplug import plugins

MODULE = "resqplug_testplug_mod"
PLUGIN_SOURCE = textwrap.dedent(
    """
    import resqplug

    class TestPlug:
        __version__ = "1.0"
        seen = []

        @resqplug.hookimpl
        def before_enqueue(self, job):
            self.seen.append(job.id)

    plugin = TestPlug()
    """
)


@pytest.fixture
def testplug(tmp_path, monkeypatch):
    """A fake installed distribution 'resqplug-testplug' 1.0 with one entry point."""
    dist = tmp_path / "resqplug_testplug-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: resqplug-testplug\nVersion: 1.0\n", "utf-8"
    )
    (dist / "entry_points.txt").write_text(f"[resqplug]\ntestplug = {MODULE}:plugin\n", "utf-8")
    (tmp_path / f"{MODULE}.py").write_text(PLUGIN_SOURCE, "utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, MODULE, raising=False)
    yield
    sys.modules.pop(MODULE, None)


class InCode:
    __version__ = "2.5"

    @resqplug.hookimpl
    def before_enqueue(self, job):
        pass


def row_of(manager, name):
    return next((row for row in manager.describe() if row[0] == name), None)


# --- entry points -------------------------------------------------------------------------


@pytest.mark.usefixtures("testplug")
def test_entry_point_plugin_is_loaded_and_listed_with_its_version():
    manager = plugins.Plugins()
    assert "testplug" in manager.names()
    assert row_of(manager, "testplug") in (
        ("testplug", "resqplug-testplug", "1.0"),
        ("testplug", "resqplug_testplug", "1.0"),
    )


@pytest.mark.usefixtures("testplug")
def test_entry_point_plugin_hooks_run_on_enqueue(resq):
    job_id = resq.enqueue(PluginsJob)
    assert sys.modules[MODULE].plugin.seen == [job_id]


@pytest.mark.usefixtures("testplug")
def test_describe_lists_core_first():
    assert plugins.Plugins().describe()[0] == ("core", "resqplug", resqplug.__version__)


@pytest.mark.usefixtures("testplug")
def test_disabled_plugin_is_not_loaded():
    manager = plugins.Plugins(disabled=["testplug"])
    assert manager.pm.get_plugin("testplug") is None
    assert manager.pm.is_blocked("testplug")
    assert MODULE not in sys.modules


@pytest.mark.usefixtures("testplug")
def test_disabled_plugin_is_not_listed():
    manager = plugins.Plugins(disabled=["testplug"])
    assert "testplug" not in manager.names()
    assert row_of(manager, "testplug") is None


@pytest.mark.usefixtures("testplug")
def test_disabled_plugin_hooks_do_not_run(redis_url, namespace):
    manager = plugins.Plugins(disabled=["testplug"])
    client = resqplug.Resq(redis_url, namespace, plugins=manager)
    assert client.enqueue(PluginsJob) is not None
    assert MODULE not in sys.modules


@pytest.mark.usefixtures("testplug")
def test_disabled_plugin_is_not_registered_in_code_either():
    manager = plugins.Plugins(disabled=["testplug"])
    manager.register(InCode(), name="testplug")
    assert manager.pm.get_plugin("testplug") is None


def test_disabled_from_env_parses_a_comma_list(monkeypatch):
    monkeypatch.setenv("RESQPLUG_DISABLE_PLUGINS", " testplug, other ,,")
    assert plugins.disabled_from_env() == ["testplug", "other"]


def test_disabled_from_env_is_empty_when_unset():
    assert plugins.disabled_from_env() == []


@pytest.mark.usefixtures("testplug")
def test_env_blocks_entry_point_plugin_of_the_process_manager(monkeypatch):
    assert "testplug" in plugins.get_plugins().names()
    monkeypatch.setenv("RESQPLUG_DISABLE_PLUGINS", "testplug")
    plugins.reset_plugins()
    assert plugins.get_plugins().pm.get_plugin("testplug") is None
    assert plugins.get_plugins().disabled == {"testplug"}


def test_core_cannot_be_disabled():
    manager = plugins.Plugins(load_entry_points=False, disabled=["core"])
    assert manager.names() == ["core"]


# --- registration in code -----------------------------------------------------------------


@pytest.mark.usefixtures("testplug")
def test_plugin_registered_in_code_replaces_the_entry_point_one():
    manager = plugins.Plugins()
    replacement = InCode()
    manager.register(replacement, name="testplug")
    assert manager.pm.get_plugin("testplug") is replacement
    assert manager.names().count("testplug") == 1
    assert row_of(manager, "testplug") == ("testplug", "(registered in code)", "2.5")


def test_register_and_unregister():
    plugin = InCode()
    assert resqplug.register(plugin, name="incode") == "incode"
    assert resqplug.get_plugins().pm.get_plugin("incode") is plugin
    resqplug.unregister("incode")
    assert "incode" not in resqplug.get_plugins().names()


def test_register_without_a_name_uses_the_lowercased_class_name():
    assert resqplug.register(InCode()) == "incode"
    assert "incode" in resqplug.get_plugins().names()


def test_unregister_unknown_name_is_a_no_op():
    before = resqplug.get_plugins().names()
    resqplug.unregister("never-registered")
    assert resqplug.get_plugins().names() == before


def test_registering_under_one_name_twice_keeps_the_second():
    first, second = InCode(), InCode()
    resqplug.register(first, name="twice")
    resqplug.register(second, name="twice")
    assert resqplug.get_plugins().pm.get_plugin("twice") is second
    assert resqplug.get_plugins().names().count("twice") == 1


def test_core_cannot_be_registered():
    with pytest.raises(resqplug.ConfigError, match="core"):
        resqplug.register(InCode(), name="core")


def test_core_cannot_be_unregistered():
    core = resqplug.get_plugins().pm.get_plugin("core")
    resqplug.unregister("core")
    assert resqplug.get_plugins().pm.get_plugin("core") is core


def test_reset_plugins_builds_a_fresh_manager():
    resqplug.register(InCode(), name="incode")
    plugins.reset_plugins()
    assert "incode" not in plugins.get_plugins().names()


class ReplaceableSpecs:
    @resqplug.hookspec
    def test_plugins_own_hook(self, job):
        """A hook a plugin adds for itself."""


class AddsOwnHook:
    @resqplug.hookimpl
    def add_hookspecs(self, pm):
        pm.add_hookspecs(ReplaceableSpecs)


def test_plugin_that_adds_hookspecs_can_be_replaced_by_name():
    manager = plugins.Plugins(load_entry_points=False)
    manager.register(AddsOwnHook(), name="adds-own")
    replacement = AddsOwnHook()
    manager.register(replacement, name="adds-own")
    assert manager.pm.get_plugin("adds-own") is replacement


class PluginsJob(resqplug.Job):
    queue = "q"

    def perform(self):
        pass


def test_importing_the_worker_modules_loads_no_plugins():
    import subprocess

    code = (
        "import resqplug.worker.run.fork.parent, resqplug.worker.run.fork.warmup, "
        "resqplug.worker.run.fork.child, resqplug.plugins as p; "
        "assert p._plugins is None, 'plugins loaded on import'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_child_forked_while_a_thread_reads_the_plugins_fragments_reads_them_too():
    """A fork worker forks while its ack thread may be building the plugins'
    write fragments for the first time: the child must not inherit that
    thread's hold on the plugin manager's lock (it hung on its first write)."""
    parent, inside, release = os.getpid(), threading.Event(), threading.Event()

    class SlowFragments:
        @resqplug.hookimpl
        def write_scripts(self):
            if os.getpid() == parent and threading.current_thread().name == "acks":
                inside.set()
                release.wait(10)
            return {"slow.noop": "return 0"}

    manager = plugins.get_plugins()
    manager.register(SlowFragments(), name="slow")
    reader = threading.Thread(target=manager.write_fragments, name="acks")
    reader.start()
    try:
        assert inside.wait(10)
        pid = os.fork()
        if pid == 0:  # the child: its own fragments, or killed by the alarm
            try:
                signal.signal(signal.SIGALRM, signal.SIG_DFL)  # not pytest-timeout's
                signal.alarm(5)
                os._exit(0 if "slow.noop" in manager.write_fragments() else 1)
            finally:
                os._exit(1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, "the child hung on the plugins' lock"
    finally:
        release.set()
        reader.join(10)
