"""``python -m loopwright.server``: serve a workspace whose settings arrive as JSON on standard input.

For programs that start a server as a child process on the workspace they hold open (the fraud demo
does): they write ``{"settings": <Settings as JSON>, "background": ["monitors", ...]}`` and read the URL
from the first line of standard output (``settings.server.port`` 0 picks a free port). SIGTERM stops the
server after the requests in flight; ``loopwright server`` is the command for people.

    $ echo '{"settings": {...}, "background": []}' | python -m loopwright.server
    http://127.0.0.1:40213
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    """Read the request from standard input, print the URL once listening, and serve until SIGTERM."""
    from loopwright.client import connect
    from loopwright.server.app import serve
    from loopwright.server.background import BackgroundServices
    from loopwright.settings import Settings

    request = json.loads(sys.stdin.read())
    settings = Settings.model_validate(request["settings"])
    client = connect(settings)
    try:
        background = BackgroundServices(client, request.get("background", []))

        def listening(url: str) -> None:
            print(url, flush=True)

        serve(client, settings.server, on_listening=listening, background=background)
    finally:
        client.close()


if __name__ == "__main__":
    main()
