"""Write the API's OpenAPI document to a file, from the app itself, without a server or a database.

``make web-types`` runs it, then openapi-typescript turns the document into ``web/src/api-types.ts``;
``tests/unit/test_web_types.py`` fails when the committed types are stale.

    python tools/openapi_document.py build/openapi.json
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventpulse.settings import Settings


@dataclass
class _DocumentOnly:
    """Just enough of Services for create_app: the document is built from routes, never from adapters."""

    settings: Settings


def build_document() -> dict[str, Any]:
    """The same document ``GET /api/openapi.json`` serves."""
    from eventpulse.api.app import create_app

    app = create_app(_DocumentOnly(Settings()))  # type: ignore[arg-type]
    response = app.test_client().get("/api/openapi.json")
    if response.status_code != 200:
        raise SystemExit(f"GET /api/openapi.json answered {response.status_code}: {response.get_data(True)}")
    document: dict[str, Any] = response.get_json()
    return document


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python tools/openapi_document.py OUT.json", file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(build_document(), indent=2, sort_keys=True) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
