"""Forked children die with their parent (``adapters/orphans.py``), on real processes, not mocks."""

from __future__ import annotations

import signal
import subprocess
import sys

import psutil
import pytest

from tests.helpers import wait_until

PARENT = """
import os, sys, time
from eventpulse.adapters.orphans import make_forks_die_with_this_process
if sys.argv[1] == "guarded":
    assert make_forks_die_with_this_process()
child = os.fork()
if child == 0:
    time.sleep(120)
    os._exit(0)
print(child, flush=True)
time.sleep(120)
"""


def _is_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE  # dead, not yet reaped
    except psutil.NoSuchProcess:
        return True


def _kill_parent(mode: str) -> int:
    """Start a parent that forks one child, SIGKILL the parent alone; the child's pid.

    With ``mode`` other than "guarded" the child lives on (checked by hand: the test then fails).
    """
    parent = subprocess.Popen([sys.executable, "-c", PARENT, mode], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        parent.send_signal(signal.SIGKILL)
        assert parent.wait(timeout=10) == -signal.SIGKILL
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    return child


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_a_child_forked_after_the_guard_dies_when_its_parent_is_killed() -> None:
    child = _kill_parent("guarded")
    try:
        wait_until(
            lambda: _is_gone(child), f"child {child} to die with its killed parent", timeout=5, interval=0.02
        )
    finally:
        if not _is_gone(child):
            psutil.Process(child).kill()
