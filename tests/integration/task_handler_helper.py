"""The process_task function in a process of its own, for test_kill_campaign.py to SIGKILL.

Usage: python task_handler_helper.py PORT
Serves ``functions/process_task/main.py`` through functions-framework's app on werkzeug (the server
functions-framework runs it on), threaded, on 127.0.0.1:PORT: the URL the Cloud Tasks emulator's
tasks post to. Settings come from the environment, as in production (``eventpulse.runtime``).
Prints ``task handler ready`` once it listens.
"""

from __future__ import annotations

import sys
from pathlib import Path

import functions_framework
from werkzeug.serving import make_server

SOURCE = Path(__file__).resolve().parents[2] / "functions" / "process_task" / "main.py"


def main() -> None:
    app = functions_framework.create_app("process_task", str(SOURCE), "http")
    server = make_server("127.0.0.1", int(sys.argv[1]), app, threaded=True)
    print("task handler ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
