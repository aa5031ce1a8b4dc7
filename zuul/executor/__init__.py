"""The in-process executor: runs builds with ``ansible-playbook`` (see ``doc/executor.rst``)."""
from zuul.executor.executor import Executor
from zuul.executor.model import (
    ABORTED,
    ERROR,
    FAILURE,
    RESULTS,
    SUCCESS,
    TIMED_OUT,
    BuildRequest,
    BuildResult,
)

__all__ = ["ABORTED", "ERROR", "FAILURE", "RESULTS", "SUCCESS", "TIMED_OUT", "BuildRequest",
           "BuildResult", "Executor"]
