"""Children that cannot outlive their parent: every fork of this process dies with it (Linux).

A process killed with SIGKILL (the OOM killer, ``kill -9``) runs no cleanup, so the children it
forked (RQ's scheduler) would live on as orphans. ``PR_SET_PDEATHSIG`` asks the kernel to send the
child SIGKILL the moment its parent dies. It is set in the child, right after the fork, through
``prctl(2)`` with ctypes: the PyPI wrappers of prctl (python-prctl, prctl, pyprctl) have had no
release since 2021, and this is one call. The signal fires when the *thread* that forked exits, so
fork from a thread that lives as long as the process (RQ forks its scheduler from the main thread).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>

_installed = False
_parent_pid = 0


def set_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent dies; False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_PDEATHSIG) failed: %s", os.strerror(ctypes.get_errno()))
        return False
    return True


def make_forks_die_with_this_process() -> bool:
    """From now on, every ``os.fork`` child of this process gets SIGKILL when this process dies.

    Idempotent. Returns False (and warns) where the platform cannot do it: orphans may then survive
    a killed worker, and the idle-in-transaction timeout is what bounds their hold on Postgres.
    """
    if not sys.platform.startswith("linux"):
        log.warning("children of this process may outlive it: PR_SET_PDEATHSIG needs Linux")
        return False
    global _installed
    if not _installed:
        os.register_at_fork(before=_remember_parent, after_in_child=_die_with_parent)
        _installed = True
    return True


def _remember_parent() -> None:
    global _parent_pid
    _parent_pid = os.getpid()


def _die_with_parent() -> None:
    set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != _parent_pid:  # the parent died before the signal was armed
        os._exit(1)
