"""A deployable bundle installs into a clean virtualenv and serves its function with functions-framework.

Slow (a pip install: minutes on a cold cache). The bundle's own ``eventpulse`` copy is what runs: the
child process sees neither the project's virtualenv nor its source tree.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, TEST_TOKEN, TEST_TOKEN_SHA256
from tests.helpers import wait_until

pytestmark = pytest.mark.slow

sys.path.insert(0, str(REPO_ROOT / "infra"))
import bundle  # noqa: E402  (infra/ is not a package)

sys.path.remove(str(REPO_ROOT / "infra"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1)
    except urllib.error.HTTPError:
        return True  # it answers (405/401 on a bare GET is an answer)
    except OSError:
        return False
    return True


def test_signed_url_bundle_installs_into_a_clean_venv_and_serves(
    tmp_path: Path, database_url: str, services
) -> None:
    archive = bundle.build_bundle("signed_url", tmp_path / "bundles", bundle.load_pins())
    root = tmp_path / "signed_url"
    with zipfile.ZipFile(archive) as zipped:
        names = set(zipped.namelist())
        zipped.extractall(root)
    assert {"main.py", "requirements.txt", "eventpulse/__init__.py", "contracts/parcels.json"} <= names
    requirements = (root / "requirements.txt").read_text()
    assert "great_expectations" not in requirements.lower() and "pandas==" not in requirements
    assert "functions-framework==3.10.2" in requirements
    pinned = [line for line in requirements.splitlines() if "==" in line and not line.startswith("#")]
    assert pinned and all(line.endswith("\\") for line in pinned)  # each pin is followed by its hashes
    assert requirements.count("--hash=sha256:") >= len(pinned)  # so pip installs in hash-checking mode

    venv.EnvBuilder(with_pip=True, clear=True).create(tmp_path / "venv")
    python = tmp_path / "venv" / "bin" / "python"
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            "requirements.txt",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-3000:]

    port = _free_port()
    env = {
        "PATH": f"{tmp_path / 'venv' / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(tmp_path),
        "DATABASE_URL": database_url,
        "EVENTPULSE_MODE": "cloud",
        "EVENTPULSE_DATA_DIR": str(tmp_path / "data"),
        "EVENTPULSE_CONTRACTS_DIR": "contracts",
        "EVENTPULSE_API_TOKEN_SHA256": TEST_TOKEN_SHA256,
    }
    log = tmp_path / "serve.log"
    command = ["functions-framework", "--target", "signed_url", "--port", str(port), "--host", "127.0.0.1"]
    with open(log, "wb") as out:
        child = subprocess.Popen(command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_until(
            lambda: _answers(url),
            f"functions-framework to answer on {url}",
            interval=0.2,
            process=child,
            log=log,
        )
        request = urllib.request.Request(
            url,
            data=json.dumps({"dataset": "parcels", "filename": "p.csv"}).encode(),
            headers={"Authorization": f"Bearer {TEST_TOKEN}", "Content-Type": "application/json"},
            method="POST",
        )
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(request, timeout=30)
        # The bundle's core ran: settings, services, contract lookup, then the landing check (this
        # deployment is on the filesystem landing, which cannot sign URLs) in the one error envelope.
        body = json.load(answer.value)
        assert answer.value.code == 400, body
        assert "GCS bucket" in body["error"]["message"] and body["error"]["details"]["request_id"]
    finally:
        child.terminate()
        child.wait(timeout=10)


@pytest.mark.parametrize("name", ["edge_enroll", "edge_ingest"])
def test_edge_bundles_carry_the_registry_client_but_no_validation_stack(tmp_path: Path, name: str) -> None:
    archive = bundle.build_bundle(name, tmp_path / "bundles", bundle.load_pins())
    with zipfile.ZipFile(archive) as zipped:
        names = set(zipped.namelist())
        requirements = zipped.read("requirements.txt").decode()
    assert {"main.py", "eventpulse/api/edge_app.py", "eventpulse/cloud/routes.py"} <= names
    assert "great_expectations" not in requirements.lower() and "pandas==" not in requirements
    assert "google-cloud-firestore==" in requirements and "functions-framework==" in requirements
