"""The Job base class and the ``@job`` decorator for functions."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, ParamSpec, TypeVar

from . import registry
from .writes import Write

if TYPE_CHECKING:
    from .client import Resq

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class EnqueueGuard:
    """A key set (NX, with a TTL) in the same atomic step that writes the job.

    A plugin appends one to ``job.guards`` in ``before_enqueue``; if the key is
    already held, nothing is written, enqueue returns None and the
    ``enqueue_refused`` hook fires with the holder's value.
    """

    key: str
    value: str
    ttl_ms: int


class Job:
    """Subclass this and define ``perform(self, *args)``.

    Class attributes are inherited like any Python attribute: ``queue`` (default
    ``"default"``), ``timeout`` (seconds, or None for the worker's default) and
    plugin options such as ``retry_limit``. ``name`` (the registry name, default
    the class name) and ``abstract`` (do not register) apply to the class that
    sets them only.
    """

    queue: ClassVar[str] = "default"
    timeout: ClassVar[float | None] = None
    abstract: ClassVar[bool] = True
    job_name: ClassVar[str] = "Job"

    def __init_subclass__(cls, announce: bool = True, **kwargs: Any) -> None:
        # announce=False: a class resqplug makes for itself, that no plugin hears of.
        super().__init_subclass__(**kwargs)
        cls.job_name = cls.__dict__.get("name", cls.__name__)
        if not cls.__dict__.get("abstract", False):
            registry.register(cls, cls.job_name)
        if announce:
            from .plugins import get_plugins

            get_plugins().hook.job_defined.call_historic(kwargs={"job_class": cls})

    def __init__(
        self,
        args: list[Any] | None = None,
        *,
        id: str | None = None,
        queue: str | None = None,
        meta: dict[str, Any] | None = None,
        enqueued_at: float | None = None,
        class_name: str | None = None,
    ) -> None:
        from .payload import new_job_id

        self.args: list[Any] = list(args) if args is not None else []
        self.id: str = id or new_job_id()
        # The id was made here and the job not written yet: no record of it
        # can exist, so a plugin may skip looking for one (cleared once written).
        self.new_id: bool = id is None
        self.queue: str = type(self).queue if queue is None else queue  # type: ignore[misc]
        self.meta: dict[str, Any] = meta if meta is not None else {}
        self.enqueued_at = enqueued_at
        self.class_name: str = class_name or type(self).job_name
        self.guards: list[EnqueueGuard] = []
        # Plugins' writes for this job, applied by the core's next script for
        # it (the enqueue, or the ack of this run): see resqplug.writes.
        self.writes: list[Write] = []
        # When the job is due, while it is written to a delayed set (set by
        # the plugin scheduling it, before the enqueue hooks run).
        self.due: float | None = None
        self.client: Resq | None = None  # the client enqueueing it, if any
        self.worker_id: str | None = None  # the worker running it, if any

    @property
    def attempt(self) -> int:
        """Which run of this job this is, 1 for the first (plugins such as retry raise it)."""
        return int(self.meta.get("attempt", 1))

    def perform(self, *args: Any) -> Any:
        raise NotImplementedError(f"{self.class_name}.perform is not defined")

    def at(self, num: float, total: float, message: str | None = None) -> None:
        """Report progress (``num`` of ``total``) through the ``job_progress`` hook.
        A plugin may raise from it to stop the job (e.g. a kill request)."""
        from .plugins import get_plugins

        get_plugins().hook.job_progress(job=self, num=num, total=total, message=message)

    def tick(self, message: str | None = None) -> None:
        """Report that the job is alive (and optionally what it does)."""
        from .plugins import get_plugins

        get_plugins().hook.job_progress(job=self, num=None, total=None, message=message)

    def __repr__(self) -> str:
        return f"<{self.class_name} id={self.id} queue={self.queue} args={self.args!r:.80}>"

    @classmethod
    def enqueue(cls, *args: Any) -> str | None:
        """Enqueue on the default client; same as ``resqplug.enqueue(cls, *args)``."""
        from .config import default_client

        return default_client().enqueue(cls, *args)

    @classmethod
    def enqueue_to(cls, queue: str, *args: Any) -> str | None:
        from .config import default_client

        return default_client().enqueue_to(queue, cls, *args)

    @classmethod
    def enqueue_on_commit(cls, *args: Any, using: str | None = None) -> str:
        """Enqueue when the Django transaction open on database ``using``
        commits (at once outside one); dropped on rollback. Returns the id,
        chosen now. Needs Django (``resqplug.contrib.django.enqueue_on_commit``)."""
        from .contrib.django.transaction import enqueue_on_commit

        return enqueue_on_commit(cls, *args, using=using)


class FunctionJob(Generic[P, R]):
    """What ``@job`` returns: call it to run the function here, ``.enqueue`` to queue it."""

    def __init__(self, func: Callable[P, R], job_class: type[Job]) -> None:
        functools.update_wrapper(self, func)
        self.func = func
        self.job_class = job_class

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.func(*args, **kwargs)

    def enqueue(self, *args: Any) -> str | None:
        return self.job_class.enqueue(*args)

    def enqueue_to(self, queue: str, *args: Any) -> str | None:
        return self.job_class.enqueue_to(queue, *args)

    def enqueue_on_commit(self, *args: Any, using: str | None = None) -> str:
        return self.job_class.enqueue_on_commit(*args, using=using)

    def using(self, client: Resq) -> Callable[..., str | None]:
        """``send_welcome.using(client)(7)`` enqueues on an explicit client."""
        return functools.partial(client.enqueue, self.job_class)


def job(
    queue: str = "default", *, name: str | None = None, **options: Any
) -> Callable[[Callable[P, R]], FunctionJob[P, R]]:
    """Make a function a job: ``@resqplug.job(queue="emails")``. Extra keyword
    arguments become class attributes (``timeout``, plugin options)."""

    def wrap(func: Callable[P, R]) -> FunctionJob[P, R]:
        def perform(self: Job, *args: Any) -> Any:
            return func(*args)  # type: ignore[call-arg]

        attrs: dict[str, Any] = {
            "queue": queue,
            "name": name or func.__name__,
            "perform": perform,
            "__module__": func.__module__,
            "__qualname__": func.__qualname__,
            "__doc__": func.__doc__,
            **options,
        }
        job_class = type(func.__name__, (Job,), attrs)
        return FunctionJob(func, job_class)

    return wrap


def job_class_of(target: object) -> type[Job]:
    """Accept a Job subclass or a ``@job`` function."""
    if isinstance(target, type) and issubclass(target, Job):
        return target
    job_class = getattr(target, "job_class", None)
    if isinstance(job_class, type) and issubclass(job_class, Job):
        return job_class
    from .errors import ConfigError

    raise ConfigError(f"{target!r} is not a job: subclass resqplug.Job or use @resqplug.job")
