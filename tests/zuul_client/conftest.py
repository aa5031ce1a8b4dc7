"""zuul-client tests use the scheduler area's fixtures (the GitHub stand-in)."""
from tests.scheduler.conftest import github_api  # noqa: F401 - a fixture
