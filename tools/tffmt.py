"""Check (or rewrite) ``.tf`` files in the layout ``terraform fmt`` gives them, without the binary.

    python tools/tffmt.py check [PATH ...]   # exit 1 and list each difference (default: infra/terraform)
    python tools/tffmt.py write [PATH ...]   # rewrite the files in place

The terraform binary cannot be downloaded on every machine that runs the tests, so this keeps the
rules of its formatter (hclwrite) that matter for review: two spaces per nesting level of ``{``, ``[``
and ``(``, a closing bracket at its opener's level, the ``=`` of consecutive one-line attributes
aligned one space past the longest name, one space after ``=``, no tabs, no trailing whitespace, one
newline at the end of the file and no run of blank lines. Heredoc bodies are left as written. An
attribute whose value opens a bracket it does not close on that line ends an alignment run, as in
hclwrite (a comment line and a blank line do too). Two rules are stricter than terraform fmt, which
keeps them: no blank lines at the end of a file, and no run of two or more blank lines. Where the
binary is installed, tests/unit/test_terraform_static.py checks that both agree on everything else.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATHS = (ROOT / "infra" / "terraform",)
OPENERS, CLOSERS = "{[(", "}])"


@dataclass
class Line:
    """One source line split at its top-level ``=``: ``lead`` (name) and ``rest`` (value)."""

    text: str
    depth: int
    """Nesting depth at the start of the line (after a leading closer is taken off)."""
    heredoc: bool = False
    """A line of a heredoc body (or its terminator): never touched."""
    lead: str | None = None
    rest: str | None = None


def scan(line: str, state: dict[str, object]) -> tuple[int, int | None]:
    """Net bracket change of ``line`` and the column of its first top-level ``=`` (None if none).

    ``state`` carries what spans lines: an open block comment and a heredoc about to start.
    """
    net, eq, i, n = 0, None, 0, len(line)
    depth_in_line = 0
    while i < n:
        ch = line[i]
        if state.get("block_comment"):
            end = line.find("*/", i)
            if end == -1:
                return net, eq
            state["block_comment"] = False
            i = end + 2
            continue
        if ch == "#" or line.startswith("//", i):
            break
        if line.startswith("/*", i):
            state["block_comment"] = True
            i += 2
            continue
        if ch == '"':
            i = skip_string(line, i)
            continue
        if line.startswith("<<", i) and (marker := heredoc_marker(line[i:])):
            state["heredoc"] = marker
            break
        if ch in OPENERS:
            net += 1
            depth_in_line += 1
        elif ch in CLOSERS:
            net -= 1
            depth_in_line -= 1
        elif ch == "=" and eq is None and depth_in_line == 0:
            before, after = line[i - 1] if i else "", line[i + 1] if i + 1 < n else ""
            if before not in "=!<>" and after not in "=>":
                eq = i
        i += 1
    return net, eq


def skip_string(line: str, start: int) -> int:
    """Index just past the string literal opening at ``start`` (interpolations may hold quotes)."""
    i, depth = start + 1, 0
    while i < len(line):
        ch = line[i]
        if ch == "\\":
            i += 2
            continue
        if line.startswith("${", i) or line.startswith("%{", i):
            depth += 1
            i += 2
            continue
        if ch == "}" and depth:
            depth -= 1
        elif ch == '"' and depth:
            i = skip_string(line, i)
            continue
        elif ch == '"':
            return i + 1
        i += 1
    return i


def heredoc_marker(text: str) -> str | None:
    body = text[2:].lstrip("-")
    name = ""
    for ch in body:
        if ch.isalnum() or ch == "_":
            name += ch
        else:
            break
    return name or None


def parse_lines(source: str) -> list[Line]:
    """Split into lines with hclwrite's indentation: a line that opens brackets (however many)
    indents what follows by one level; a line that closes them sits at the level it returns to."""
    lines: list[Line] = []
    indents: list[int] = []  # open brackets of each line that indented, innermost last
    state: dict[str, object] = {}
    heredoc: str | None = None
    for raw in source.split("\n"):
        if heredoc is not None:
            lines.append(Line(raw, len(indents), heredoc=True))
            if raw.strip() == heredoc:
                heredoc = None
            continue
        stripped = raw.strip()
        in_comment = bool(state.get("block_comment"))
        net, eq = scan(stripped, state)
        if net > 0:
            line = Line(stripped, len(indents))
            indents.append(net)
        else:
            close_levels(indents, -net)
            line = Line(stripped, len(indents))
        if eq is not None and not in_comment:
            value = stripped[eq + 1 :]
            if scan(value, {})[0] == 0 and "heredoc" not in state:
                line.lead, line.rest = stripped[:eq].rstrip(), value.strip()
        lines.append(line)
        if "heredoc" in state:
            heredoc = str(state.pop("heredoc"))
    return lines


def close_levels(indents: list[int], closed: int) -> None:
    """Pop the indentation levels that ``closed`` closing brackets end (hclwrite's rule)."""
    while closed > 0 and indents:
        if closed >= indents[-1]:
            closed -= indents.pop()
        else:
            indents[-1] -= closed
            closed = 0


def format_source(source: str) -> str:
    """The file as terraform fmt would lay it out (for the rules this module keeps)."""
    lines = parse_lines(source.replace("\t", "  ").rstrip("\n") + "\n")
    out: list[str] = []
    for group in alignment_runs(lines):
        width = max(len(line.lead or "") for line in group) if len(group) > 1 else None
        for line in group:
            out.append(render(line, width))
    text = "\n".join(out).rstrip("\n") + "\n"
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text


def alignment_runs(lines: list[Line]) -> Iterator[list[Line]]:
    run: list[Line] = []
    for line in lines:
        if line.lead is not None and not line.heredoc:
            if run and run[0].depth != line.depth:
                yield run
                run = []
            run.append(line)
            continue
        if run:
            yield run
            run = []
        yield [line]
    if run:
        yield run


def render(line: Line, width: int | None) -> str:
    if line.heredoc:
        return line.text.rstrip()
    if not line.text:
        return ""
    indent = "  " * line.depth
    if line.lead is None or line.rest is None:
        return indent + line.text
    pad = " " * ((width or len(line.lead)) - len(line.lead))
    return f"{indent}{line.lead}{pad} = {line.rest}".rstrip()


def differences(path: Path) -> list[str]:
    """Human-readable differences between ``path`` and its formatted form (empty when it is tidy)."""
    source = path.read_text(encoding="utf-8")
    wanted = format_source(source)
    if source == wanted:
        return []
    got_lines, want_lines = source.split("\n"), wanted.split("\n")
    found = []
    for number, (got, want) in enumerate(zip(got_lines, want_lines, strict=False), start=1):
        if got != want:
            found.append(f"{path}:{number}: {got!r} should be {want!r}")
    if len(got_lines) != len(want_lines):
        found.append(f"{path}: {len(got_lines)} lines, formatted {len(want_lines)} (blank lines at the end?)")
    return found


def tf_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        files += sorted(path.rglob("*.tf")) if path.is_dir() else [path]
    return [f for f in files if ".terraform" not in f.parts]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("check", "write"))
    parser.add_argument("paths", nargs="*", type=Path)
    args = parser.parse_args(argv)
    files = tf_files(args.paths or list(DEFAULT_PATHS))
    untidy = 0
    for path in files:
        found = differences(path)
        if not found:
            continue
        untidy += 1
        if args.mode == "write":
            path.write_text(format_source(path.read_text(encoding="utf-8")), encoding="utf-8")
            print(f"formatted {path}")
        else:
            print("\n".join(found[:20]))
    if args.mode == "check" and untidy:
        print(f"{untidy} of {len(files)} file(s) need formatting: python tools/tffmt.py write")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
