"""Compile and check the hashed lock files with uv.

    python tools/locks.py compile [UV_ARGS ...]   # `make lock`: re-lock from the .in files
    python tools/locks.py check                   # `make lint`: the locks match the .in files (offline)

``requirements.txt`` locks ``requirements.in`` (the direct runtime pins pyproject reads).
``requirements-dev.txt`` locks ``requirements-dev.in`` (which includes ``requirements.in``) under
``-c requirements.txt``: one complete, hashed file for a developer's or CI's virtualenv whose runtime
part is exactly the runtime lock. ``requirements-checkov.txt`` locks ``requirements-checkov.in`` on its
own: checkov runs in ``.venv-checkov`` (`make checkov`), since its pins clash with the project's.
``requirements-dlt.txt`` locks ``requirements-dlt.in`` on its own: dlt is what `make bench-dlt`
measures EventPulse against, in ``benchmarks/out/dlt-venv``, never part of the project.
Each lock's first line records the sha256 of the inputs it was compiled from; ``check`` recomputes
it, so editing a ``.in`` file without ``make lock`` fails lint.
uv keeps the versions already in a lock unless the inputs force a change (``--upgrade-package NAME``
in UV_ARGS moves one on purpose).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
UV_FLAGS = (
    "--generate-hashes",
    "--universal",  # one lock for Linux, macOS and Windows developers, with markers
    "--python-version",
    "3.11",  # the oldest Python pyproject allows
    "--no-config",  # a developer's uv.toml must not change the lock
    "--quiet",
)
DIGEST_LINE = re.compile(r"^# inputs-sha256: ([0-9a-f]{64})\b", re.MULTILINE)


@dataclass(frozen=True)
class LockSpec:
    """One lock file: what uv compiles it from, and which files its recorded digest covers."""

    output: str
    source: str
    constraints: tuple[str, ...] = ()

    def inputs(self, root: Path) -> tuple[str, ...]:
        return (self.source, *included_files(root, self.source), *self.constraints)


@dataclass(frozen=True)
class Pin:
    version: str
    hashes: tuple[str, ...]


LOCKS = (
    LockSpec("requirements.txt", "requirements.in"),
    LockSpec("requirements-dev.txt", "requirements-dev.in", constraints=("requirements.txt",)),
    # checkov's own pins clash with the project's, so it gets its own lock and venv (`make checkov`)
    LockSpec("requirements-checkov.txt", "requirements-checkov.in"),
    # dlt, the anchor `make bench-dlt` measures, in the benchmark's own venv (benchmarks/out/dlt-venv)
    LockSpec("requirements-dlt.txt", "requirements-dlt.in"),
)
RUNTIME, DEV = LOCKS[0], LOCKS[1]


def included_files(root: Path, name: str) -> list[str]:
    """The ``-r`` files a requirements file includes, recursively, relative to ``root``."""
    found: list[str] = []
    for line in _logical_lines((root / name).read_text()):
        if line.startswith(("-r ", "--requirement ")):
            child = ((root / name).parent / line.split(maxsplit=1)[1]).relative_to(root).as_posix()
            found += [child, *included_files(root, child)]
    return found


def inputs_digest(root: Path, spec: LockSpec) -> str:
    """sha256 over the inputs' requirement lines and uv's flags (comments and blank lines do not count)."""
    digest = hashlib.sha256(" ".join(UV_FLAGS).encode())
    for name in spec.inputs(root):
        lines = _logical_lines((root / name).read_text())
        digest.update(b"\0" + name.encode() + b"\0" + "\n".join(lines).encode())
    return digest.hexdigest()


def build_header(root: Path, spec: LockSpec) -> str:
    return (
        f"# inputs-sha256: {inputs_digest(root, spec)} "
        f"(of {', '.join(spec.inputs(root))}; `make lint` checks it, `make lock` rewrites it)\n"
    )


def recorded_digest(text: str) -> str | None:
    found = DIGEST_LINE.search(text)
    return found.group(1) if found else None


def _logical_lines(text: str) -> list[str]:
    """Lines with backslash continuations joined and comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined = (pending + line).strip()
        pending = ""
        if joined:
            lines.append(joined)
    return lines


def parse_lock(text: str) -> dict[str, Pin]:
    """``{canonical name: Pin}`` of a hashed lock (``name==version [; marker] --hash=... ...``)."""
    pins: dict[str, Pin] = {}
    for line in _logical_lines(text):
        tokens = line.split()
        hashes = tuple(t.removeprefix("--hash=") for t in tokens if t.startswith("--hash="))
        requirement = Requirement(" ".join(t for t in tokens if not t.startswith("--hash=")))
        (spec,) = requirement.specifier
        pins[canonicalize_name(requirement.name)] = Pin(spec.version, hashes)
    return pins


def load_direct_pins(path: Path) -> tuple[dict[str, str], list[str]]:
    """The exact pins of a ``.in`` file and its ``-r`` includes, and a problem per unpinned line."""
    pins: dict[str, str] = {}
    problems: list[str] = []
    for line in _logical_lines(path.read_text()):
        if line.startswith(("-r ", "--requirement ")):
            child_pins, child_problems = load_direct_pins(path.parent / line.split(maxsplit=1)[1])
            pins.update(child_pins)
            problems += child_problems
            continue
        if line.startswith("-"):
            problems.append(f"{path.name}: `{line}`: an input holds name==version lines and -r includes only")
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement as exc:
            problems.append(f"{path.name}: cannot read `{line}` ({exc}); write it as name==version")
            continue
        specs = list(requirement.specifier)
        if len(specs) != 1 or specs[0].operator != "==" or "*" in specs[0].version:
            problems.append(f"{path.name}: `{line}` is not an exact pin; pin one version (name==X.Y.Z)")
            continue
        pins[canonicalize_name(requirement.name)] = specs[0].version
    return pins, problems


def diff_direct_pins(direct: dict[str, str], locked: dict[str, Pin], lock_name: str) -> list[str]:
    problems = []
    for name, version in sorted(direct.items()):
        pin = locked.get(name)
        if pin is None or pin.version != version:
            found = "missing" if pin is None else f"at {pin.version}"
            problems.append(f"{lock_name}: {name}=={version} is pinned in the inputs but {found} in the lock")
    return problems


def diff_runtime_in_dev(runtime: dict[str, Pin], dev: dict[str, Pin]) -> list[str]:
    """The dev lock must hold every runtime package at the runtime lock's version."""
    return [
        f"{DEV.output}: {name} is {dev[name].version if name in dev else 'missing'}, "
        f"{RUNTIME.output} has {pin.version}"
        for name, pin in sorted(runtime.items())
        if name not in dev or dev[name].version != pin.version
    ]


def find_problems(root: Path = ROOT) -> list[str]:
    """Every way the locks disagree with their inputs; empty when they match."""
    problems: list[str] = []
    locked: dict[str, dict[str, Pin]] = {}
    for spec in LOCKS:
        path = root / spec.output
        if not path.exists():
            problems.append(f"{spec.output} is missing")
            continue
        text = path.read_text()
        if recorded_digest(text) != inputs_digest(root, spec):
            problems.append(f"{spec.output} was not compiled from the current {', '.join(spec.inputs(root))}")
        locked[spec.output] = pins = parse_lock(text)
        direct, unpinned = load_direct_pins(root / spec.source)
        problems += unpinned + diff_direct_pins(direct, pins, spec.output)
        problems += [f"{spec.output}: {n} has no --hash" for n, p in sorted(pins.items()) if not p.hashes]
    if len(locked) == len(LOCKS):
        problems += diff_runtime_in_dev(locked[RUNTIME.output], locked[DEV.output])
    return problems


def find_uv() -> str:
    beside = Path(sys.executable).with_name("uv")
    found = str(beside) if beside.exists() else shutil.which("uv")
    if found is None:
        raise SystemExit("uv is not installed: run `make install` (requirements-dev.in pins it)")
    return found


def compile_locks(root: Path, extra: list[str]) -> None:
    """Re-lock every spec in order (the dev lock is constrained by the fresh runtime lock)."""
    for spec in LOCKS:
        path = root / spec.output
        scratch = path.with_name(f".{spec.output}.new")  # uv prefers the versions already in its -o file
        if path.exists():
            shutil.copyfile(path, scratch)
        command = [find_uv(), "pip", "compile", spec.source, *UV_FLAGS]
        command += [arg for c in spec.constraints for arg in ("-c", c)]
        command += ["--custom-compile-command", "make lock", "-o", scratch.name, *extra]
        try:
            subprocess.run(command, cwd=root, check=True)
            text = build_header(root, spec) + scratch.read_text()
        finally:
            scratch.unlink(missing_ok=True)
        if not path.exists() or path.read_text() != text:  # unchanged: keep the mtime, skip a reinstall
            path.write_text(text)
            print(f"wrote {spec.output}")


def main(argv: list[str]) -> int:
    if argv[:1] == ["compile"]:
        compile_locks(ROOT, argv[1:])
        return 0
    if argv != ["check"]:
        print(__doc__, file=sys.stderr)
        return 2
    problems = find_problems()
    for problem in problems:
        print(f"lock check: {problem}", file=sys.stderr)
    if problems:
        print("lock check: run `make lock` and commit the lock files", file=sys.stderr)
        return 1
    print(f"lock check: {', '.join(s.output for s in LOCKS)} match their inputs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
