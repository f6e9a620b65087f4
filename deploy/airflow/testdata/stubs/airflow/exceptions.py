"""Stub of airflow.exceptions: the same classes and hierarchy."""


class AirflowException(Exception):
    """A task failure; the task is retried while it has retries left."""


class AirflowSkipException(AirflowException):
    """The task is marked skipped."""


class AirflowFailException(AirflowException):
    """The task fails without its retries."""


class AirflowConfigException(AirflowException):
    """A bad argument."""
