"""The dashboard's TypeScript types are generated from the OpenAPI document; stale ones fail here."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "tools"))
import openapi_document  # noqa: E402  (tools/ is not a package)

sys.path.remove(str(REPO_ROOT / "tools"))

WEB = REPO_ROOT / "web"
TYPES = WEB / "src" / "api-types.ts"
GENERATOR = WEB / "node_modules" / ".bin" / "openapi-typescript"


def test_committed_api_types_match_the_current_openapi_document(tmp_path: Path) -> None:
    if shutil.which("node") is None or not GENERATOR.exists():
        pytest.fail(
            "openapi-typescript is not installed: run `make web` (npm ci in web/; needs Node.js and npm)"
        )
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(openapi_document.build_document(), indent=2, sort_keys=True) + "\n")
    fresh = tmp_path / "api-types.ts"
    subprocess.run(
        [str(GENERATOR), str(document), "-o", str(fresh)], check=True, capture_output=True, timeout=120
    )
    assert fresh.read_text() == TYPES.read_text(), (
        "web/src/api-types.ts is stale: the API changed. Run `make web-types` and commit the result"
    )
