"""Test-suite options."""


def pytest_addoption(parser):
    parser.addoption(
        "--update-baselines",
        action="store_true",
        default=False,
        help="rewrite tests/baselines/*.json from this run's chapter headline numbers",
    )
