"""The root updater with its real runner: real pip in a real venv installs the requested version of a
small wheel made here (a local path in update.toml, so no index is needed), and a version pip cannot
find is a failure whose error is pip's own message. systemctl is not run (restart_unit=None): that is
the one step left to the device."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from eventpulse_edge.updater import REQUEST_NAME, RESULT_NAME, process_request


def _wheel(folder: Path, version: str) -> Path:
    """A minimal pure-Python wheel of `epdummy` whose module says its version."""
    name = f"epdummy-{version}.dist-info"
    files = {
        "epdummy.py": f'VERSION = "{version}"\n',
        f"{name}/METADATA": f"Metadata-Version: 2.1\nName: epdummy\nVersion: {version}\n",
        f"{name}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{name}/RECORD,,")
    files[f"{name}/RECORD"] = "\n".join(record) + "\n"
    wheel = folder / f"epdummy-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, timeout=120)
    return folder


def test_real_pip_installs_the_requested_version_and_reports_a_missing_one(
    venv: Path, tmp_path: Path
) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, "1.0.0")
    _wheel(wheels, "1.1.0")
    config = tmp_path / "update.toml"
    config.write_text(
        f'requirement = "{wheels}/epdummy-{{version}}-py3-none-any.whl"\nvenv = "{venv}"\ntimeout_s = 120\n'
    )
    state = tmp_path / "state"
    state.mkdir()
    installed = venv / "bin" / "python"
    for version in ("1.0.0", "1.1.0"):  # an install, then an upgrade
        (state / REQUEST_NAME).write_text(json.dumps({"command_id": f"c-{version}", "version": version}))
        result = process_request(state, config, restart_unit=None)
        assert result is not None and result["ok"] is True, result
        assert json.loads((state / RESULT_NAME).read_text())["ok"] is True
        assert not (state / REQUEST_NAME).exists()
        running = subprocess.run(
            [str(installed), "-c", "import epdummy; print(epdummy.VERSION)"], capture_output=True, text=True
        )
        assert running.stdout.strip() == version

    (state / REQUEST_NAME).write_text(json.dumps({"command_id": "c-missing", "version": "2.0.0"}))
    result = process_request(state, config, restart_unit=None)
    assert result is not None and result["ok"] is False
    assert "pip install 2.0.0 failed (exit 1)" in result["error"]
    assert "epdummy-2.0.0-py3-none-any.whl" in result["error"]  # pip's own words, in the tail
    assert not (state / REQUEST_NAME).exists()
