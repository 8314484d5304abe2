"""The test harness itself (conftest.py): what make test's parallel workers share."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch


def test_each_worker_takes_its_share_of_the_cores():
    """Torch in a worker, and a process the worker starts, use cores // workers threads: two
    workers that each took every core would spin against each other (25x slower, measured)."""
    if os.environ.get("GRADLAB_TEST_THREADS") is None:
        pytest.skip("the caller set OMP_NUM_THREADS or MKL_NUM_THREADS itself")
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    share = max(1, len(os.sched_getaffinity(0)) // workers)
    child = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
                           capture_output=True, text=True, check=True)
    assert (torch.get_num_threads(), int(child.stdout)) == (share, share)

