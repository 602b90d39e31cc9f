"""Every hook the core announces.

Hooks are called with keyword arguments; an implementation names only the
arguments it needs, and new arguments may be added later. Implementations are
called last-registered first (pluggy's order); ``tryfirst``/``trylast`` adjust
that. The core's own behaviour is the plugin named ``core`` (see builtin.py),
registered first, so every plugin can wrap it.

Exception policy in one place:

- ``before_enqueue``, ``before_dequeue``: an exception propagates to the caller
  and nothing is written; ``DontEnqueue`` / ``DontDequeue`` are quiet vetoes.
- ``after_enqueue``, ``after_dequeue``, ``job_discarded``, ``on_failure``,
  worker hooks: each implementation runs even if another raised; errors are
  logged with the plugin's name and never undo what happened.
- ``before_perform``, ``perform``, ``after_perform``: an exception fails the job
  (``DontPerform`` from ``before_perform`` skips it instead).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from .client import Resq
    from .job import Job

hookspec = pluggy.HookspecMarker("resqplug")
hookimpl = pluggy.HookimplMarker("resqplug")


# --- enqueue and dequeue: in the process that calls enqueue()/dequeue() ------


@hookspec
def before_enqueue(job: Job) -> None:
    """Before ``job`` is written to its queue.

    Fires for every enqueue, including ``enqueue_many``, failure retries and
    jobs moved from a schedule. ``job.id``, ``job.args``, ``job.queue`` and
    ``job.meta`` are set; changes to ``job.meta`` and ``job.queue`` are written.
    A plugin that needs an atomic check with the write (uniqueness) appends an
    :class:`resqplug.EnqueueGuard` to ``job.guards``.

    Raise ``DontEnqueue`` to veto: nothing is written and enqueue returns None.
    Any other exception propagates to the caller, and nothing is written.
    """


@hookspec
def after_enqueue(job: Job) -> None:
    """After ``job`` was written. Errors are logged and never undo the write."""


@hookspec
def enqueue_refused(job: Job, guard: Any, holder: str | None) -> None:
    """An enqueue guard of ``job`` was already held, so nothing was written.

    ``guard`` is the :class:`resqplug.EnqueueGuard` that failed and ``holder``
    the value stored under its key (usually the id of the job holding it).
    Errors are logged.
    """


@hookspec
def before_dequeue(job: Job) -> None:
    """Before ``dequeue()`` removes queued jobs matching ``job.class_name`` and
    ``job.args``. Raise ``DontDequeue`` (or ``DontEnqueue``) to veto: nothing is
    removed and dequeue returns 0."""


@hookspec
def after_dequeue(job: Job, removed: int) -> None:
    """After ``dequeue()`` removed ``removed`` jobs. Errors are logged."""


@hookspec
def job_discarded(job: Job, reason: str) -> None:
    """``job`` was removed without being run and will never run: release what
    the plugin holds for it (a lock, a status that waits for an end).

    Fires once per removed job, after the removal took effect, in the process
    that removed it (the caller of ``dequeue()``, ``remove_queue()``,
    ``failures.remove()``/``clear()``, a dashboard or CLI action, a plugin's
    own removal). ``reason`` says how: the core's are ``"dequeued"``,
    ``"queue removed"``, ``"removed"`` (one queued job, e.g. from the
    dashboard), ``"failure removed"``, ``"failures cleared"``, ``"delayed
    removed"``, ``"skipped"`` (a ``before_perform`` raised ``DontPerform``:
    fired in the process that ran the hooks, the fork child when forking),
    and for a delayed job dropped when it came due ``"vetoed"``
    (by ``before_enqueue``) or ``"duplicate"`` (an enqueue guard held by
    another job). Plugins fire it for their own removals with their own
    reasons (``"failures cleaned"``; ``"killed"``: a job killed before its
    start, which a worker drops unrun when it takes it).

    ``job`` is built from the removed payload, with its id, args and meta; it
    is a plain ``Job`` when this process does not know the class (no module
    is imported by name); ``job.client`` is the client that removed it (use
    ``resqplug.client_for(job)``). A payload that does not decode fires
    nothing: no plugin saw it enqueued. A failure record whose job was
    enqueued again (``retried_at``, or a failure recorded by a retry) fires
    nothing either: that job lives on under the same id.

    Each implementation runs even if another raised; errors are logged with
    the plugin's name and never undo or stop the removal. Nothing decodes
    removed payloads when no plugin implements this hook.
    """


# --- perform: in the process that runs the job (the fork child when forking) -


@hookspec
def before_perform(job: Job) -> None:
    """Just before the job runs.

    Raise ``DontPerform`` to skip the job: it is acknowledged and counted as
    processed, with no failure and no ``after_perform``/``on_failure``, and
    ``job_discarded`` fires with reason ``"skipped"``. Any other exception
    fails the job. Implementations are called like pluggy calls them, but
    without its per-call machinery while no plugin wraps this hook (see
    resqplug.hookcall): a wrapper here costs every job.
    """


@hookspec(firstresult=True)
def perform(job: Job) -> Any:
    """Run the job and return its result (the "around" hook).

    The core's implementation (``trylast``) calls ``job.perform(*job.args)``.
    Wrap it with ``@hookimpl(wrapper=True)`` and ``result = yield``: code before
    the yield runs before the job, the yield raises the job's exception, and the
    wrapper may return a different result or raise. An exception fails the job.
    """


@hookspec
def job_progress(job: Job, num: float | None, total: float | None, message: str | None) -> None:
    """The job reported progress with ``self.at(num, total, message)`` (or
    ``self.tick(message)``: num and total None). Runs inside the job; an
    exception raised here reaches the job (a plugin stopping it on request)."""


@hookspec
def after_perform(job: Job, result: Any) -> None:
    """After the job succeeded, with its return value. An exception fails the job."""


@hookspec
def on_failure(job: Job, exc: BaseException) -> None:
    """Once per failed run: an exception in before_perform, perform or
    after_perform, a timeout, a killed child (``DirtyExit``), or a job the
    reaper gives up on. Runs in the worker parent when the child died. Each
    implementation runs even if another raised; errors are logged with the
    plugin's name, and the failure is still recorded."""


@hookspec(firstresult=True)
def handle_failure(job: Job, exc: BaseException) -> str | None:
    """Decide what happens to a failed run, after ``on_failure``.

    Return None to let the core record the failure (the default: a final
    failure), or a short word naming what the plugin did instead
    (``"retried"``), in which case the core acknowledges the job without
    writing a failure record or counting ``stat:failed``; a word ending in
    ``"+record"`` (``"retried+record"``) means "handled, but record the failure
    too". The first non-None answer wins; wrappers see it. Answers starting
    with ``"retried"`` mean the job will run again; any other answer (None,
    ``"killed"``) means it is finished for good. Runs in the process that
    records the outcome. An exception is logged and the failure is recorded.
    """


@hookspec
def job_recovered(job: Job, worker_id: str) -> None:
    """``job`` went back to the front of its queue unfinished: the reaper put
    it back because its worker ``worker_id`` died (``job.meta["recoveries"]``
    counts how often; runs in the reaping process), or its own worker
    ``worker_id`` stopped it (INT, or TERM's shutdown timeout; runs in that
    worker). Errors are logged. A job recovered too often is failed instead,
    through ``on_failure`` with a ``DirtyExit``."""


@hookspec(historic=True)
def job_defined(job_class: type[Job]) -> None:
    """A Job subclass was defined (also replayed to plugins registered later).

    Plugins check the class options they own here; raise ``ConfigError``
    naming the attribute to refuse the definition. Classes resqplug makes for
    itself (the fork worker's warm-up job) are not announced.
    """


# --- worker life: in the worker (parent) process -------------------------------


@hookspec
def worker_start(worker: Any) -> None:
    """Once, after the worker registered itself and before it takes a job."""


@hookspec
def before_fork(worker: Any, job: Job) -> None:
    """In the process that forks, just before it forks a child (fork mode
    only): the worker's fork server while it has one (it forks the children
    while a backlog is drained), else the worker. ``job`` is the job the child
    is forked for, or None for a spare forked ahead of its first job (children
    are forked while the previous job runs) or a job of more than 128 KiB sent
    to a fork server. In a fork server ``worker`` is a stand-in with the
    worker's ``id``, ``pid``, ``queues`` and ``options``. Errors are logged."""


@hookspec
def warm_up(job: Job) -> None:
    """In the process that forks job children (fork mode: the fork server, or
    the worker), before its first fork, several times: run here, without
    side effects, the code this plugin's per-job hooks run in a child (key
    names, the writes they build), with ``job``, an instance of a job class of
    no queue that never runs. A function's first runs write to its code
    (CPython's warm-up counters and caches) and a child copies every page it
    writes: code warm in the parent runs in each child without those copies,
    and caches filled here are shared. Touch no Redis. Errors are logged."""


@hookspec
def after_fork(worker: Any, job: Job) -> None:
    """In a new child, before the first job it runs (``job``); the child has
    no Redis connection of its parent's (the default client is fresh). An
    exception fails that job. ``worker`` as in ``before_fork``."""


@hookspec
def worker_pause(worker: Any) -> None:
    """The worker stopped taking jobs (USR2, or pause-all-workers set)."""


@hookspec
def worker_resume(worker: Any) -> None:
    """The worker takes jobs again (CONT, or pause-all-workers cleared)."""


@hookspec
def worker_heartbeat(worker: Any) -> None:
    """On the worker's heartbeat thread, about every half second, while the
    worker runs (also during long jobs), and once on its main thread at start,
    before its first job or fork (so what it imports on first use is imported
    before a child is forked): for periodic plugin work such as promoting due
    delayed jobs. Keep it short. Errors are logged."""


@hookspec
def queue_empty(worker: Any) -> None:
    """The worker found all its queues empty and goes idle (once per idle spell)."""


@hookspec
def worker_exit(worker: Any) -> None:
    """Last, after the worker unregistered (normal exit or error)."""


# --- extension: setup time -------------------------------------------------------


@hookspec
def add_cli_commands(cli: click.Group) -> None:
    """Add subcommands to the ``resqplug`` command group."""


@hookspec
def dashboard_pages() -> Any:
    """Return dashboard pages this plugin adds (see resqplug.web): ``Page``s,
    and ``Endpoint``s for plain resources served at the top level (``/metrics``)."""


@hookspec
def write_scripts() -> Any:
    """Return the Lua fragments this plugin's :class:`resqplug.Write` objects
    name, as a mapping of name to source (prefix names with the plugin's:
    ``"status.set"``).

    Called in every process that writes jobs or records outcomes, when the
    core first builds its scripts after plugins changed. A fragment is the
    body of a script: it reads its own ``KEYS`` and ``ARGV`` (the ``keys`` and
    ``args`` of a Write) and may ``return`` early; its return value is
    ignored. The core defines every fragment inside its enqueue and ack
    scripts, so a plugin's per-job writes ride the core's round trip instead
    of making their own (see ``resqplug.writes``). A fragment that raises is
    logged with its name and does not undo the core's step. Declare every key
    a fragment touches in the Write's ``keys``. Two plugins registering the
    same name with different sources is a ``ConfigError``.

    A source wrapped in :class:`resqplug.ext.Batched` runs once per carrying
    script and group of writes (same keys, same ``shared`` args) instead of
    once per write, after the core's own step, with ``KEYS`` (the group's
    keys, once), ``ARGV`` (the writes' args, in job order), ``COUNT`` (their
    number), ``JOBS`` (their jobs' payloads where the script writes the job,
    else '') and ``SHARED``: per-job work becomes one variadic command per
    batch (an ``enqueue_many`` of a thousand jobs, an ack of fifty). The
    writes of a group must have the same number of args.
    """


@hookspec
def job_options() -> Any:
    """Declare the job-class options this plugin reads: return an iterable of
    :class:`resqplug.ext.JobOption` (name, default, type or validator, doc;
    plain names are accepted too).

    Called once per plugin set, in any process that enqueues or loads a job
    (the first check of a job class), and again after a plugin is registered
    or removed. The core declares its own (``queue``, ``name``, ``timeout``,
    ``abstract``) the same way and holds no plugin's names.

    Each job class is checked at its first enqueue and first load in a worker:
    a lowercase, public, non-callable, non-descriptor attribute of the class
    or a base (not ``Job``'s own) that no plugin declares is logged once per
    class as having no effect here (the job still enqueues and runs: the
    plugin may be installed elsewhere); one close to a declared name is an
    ``UnknownOptionError`` with the close name and its plugin; a declared
    option whose value its ``type``/``validate`` refuses is a ``ConfigError``.
    """


# --- the demo: in ``resqplug demo`` and its workers ---------------------------------


@hookspec
def demo_jobs() -> Any:
    """The plugin's job classes for ``resqplug demo``: an iterable of
    :class:`resqplug.ext.DemoJobs` (a job class, the args of each job to
    enqueue, and optionally the core demo job it stands in for, by name).

    Called when ``resqplug.demo_jobs`` is imported: in the demo process and
    in each demo worker (their ``--app``), so the classes are registered
    wherever the jobs run. Define them in a module this call imports, never
    at plugin load: their names would then be taken in every application.
    """


@hookspec
def demo_showcase(client: Resq) -> Any:
    """After the demo enqueued its workload on ``client``: enqueue what shows
    this plugin at work and return the lines (str) to print about it."""


@hookspec
def demo_pending(client: Resq) -> Any:
    """How many jobs this plugin still holds back on ``client`` (delayed,
    scheduled, waiting for a retry), so the demo waits for them before it
    summarises. Called about ten times a second while the demo runs."""


@hookspec
def demo_summary(client: Resq) -> Any:
    """After the demo's workers stopped: lines (str) saying what this plugin
    did, printed under the demo's own summary."""


@hookspec(historic=True)
def add_hookspecs(pm: pluggy.PluginManager) -> None:
    """Called once per plugin when it is registered: add the plugin's own hook
    specifications with ``pm.add_hookspecs(module)``. Other plugins implement
    them with ``@hookimpl(optionalhook=True)``."""
