"""Test-suite options and settings."""

import os

import torch


def pytest_addoption(parser):
    parser.addoption(
        "--update-baselines",
        action="store_true",
        default=False,
        help="rewrite tests/baselines/*.json from this run's chapter headline numbers",
    )


def pytest_configure(config):
    # The suite runs on two xdist workers on two cores: one torch thread each keeps them from
    # fighting over the cores (measured: a small training test went from 0.3 s to 7.7 s with two
    # threads under load). Notebooks run in their own kernels and set their own threads.
    torch.set_num_threads(1)
    # The chapters' kernels are child processes: start their OpenMP pools with one thread too
    # (seen here: a batched fit ran over ten times slower while other processes held both cores).
    os.environ["OMP_NUM_THREADS"] = "1"
