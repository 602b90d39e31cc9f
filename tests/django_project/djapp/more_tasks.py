"""Tasks outside an app's ``tasks`` module: found through OPTIONS["TASK_MODULES"]."""

try:
    from django.tasks import task
except ImportError:
    from django_tasks import task


@task
def shout(word: str) -> str:
    return word.upper()
