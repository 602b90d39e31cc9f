"""One error tree: everything resqplug raises on purpose is a ResqplugError."""

from __future__ import annotations


class ResqplugError(Exception):
    """Base of every error resqplug raises on purpose."""


class ConfigError(ResqplugError, ValueError):
    """A setting, URL or job-class declaration is invalid."""


class ConnectionError(ResqplugError):  # noqa: A001 - the public name in DESIGN §2
    """Redis cannot be reached; the message names the URL without its password."""


class QueueFullError(ResqplugError):
    """Redis refused a write because it is out of memory (maxmemory, noeviction)."""


class PayloadError(ResqplugError, ValueError):
    """Job args or a payload text are not valid; the message names the path."""


class QueueNameError(ResqplugError, ValueError):
    """A queue name is empty, too long or contains a forbidden character."""


class NotFoundError(ResqplugError, LookupError):
    """A queue, job id, failure, schedule or lock that was asked for does not exist."""


class UnknownJobError(ResqplugError, LookupError):
    """A payload names a job class that is not registered in this process."""


class DuplicateJobNameError(ConfigError):
    """Two different job classes were defined under one registry name."""


class UnknownOptionError(ConfigError):
    """A job class sets an option that no loaded plugin owns."""


class UnknownFailureError(NotFoundError):
    """No failure record exists for the given job id."""


class DontEnqueue(ResqplugError):
    """Raised by a before_enqueue hook to veto the enqueue (enqueue returns None)."""


class DontDequeue(ResqplugError):
    """Raised by a before_dequeue hook to veto removing jobs (dequeue returns 0)."""


class DontPerform(ResqplugError):
    """Raised by a before_perform hook to skip the job: counted, not failed."""


class JobTimeout(ResqplugError):
    """A job ran longer than its timeout and was stopped."""


class StopRun(BaseException):  # not an error: outside the ResqplugError tree
    """Raised into a running job by the process that runs it (a worker's signal
    handler) to end the run with no outcome: the one exception that passes a
    job's boundary (``runner.run``, the job's failure methods)."""


class JobAborted(ResqplugError):
    """Raised by the inline backend, from the original, when a job ended with a
    BaseException that is not an Exception (``SystemExit``, ``GeneratorExit``,
    ...): the job is failed as in a worker, and it does not stop the caller."""


class DirtyExit(ResqplugError):
    """The process running a job died without reporting an outcome."""
