"""``loopwright server``: serve every deployment of the workspace over HTTP.

The server follows the workspace: a deployment created or changed, or an alias moved, is served within
``refresh_interval_s`` (1 s by default) without a restart and without dropping a request. It listens on
127.0.0.1 only, and refuses any address other machines could reach: it has no authentication yet. Beside
the endpoints it runs the loop's workers, each in a thread and each optional: the scheduler (triggers),
the monitors (windows and alerts) and the promotion controller (rollouts).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.text import Text

from loopwright.cli._render import output_console
from loopwright.cli._state import open_client
from loopwright.errors import InvalidInputError, MissingExtraError

__all__ = ["register", "server"]


def server(
    context: typer.Context,
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            help="Address to listen on: a loopback address only (127.0.0.1, ::1, localhost), as the server "
            "has no authentication yet. Default: LOOPWRIGHT_SERVER__HOST or 127.0.0.1.",
            show_default=False,
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            "-p",
            min=0,
            max=65_535,
            help="Port to listen on (0: any free port). Default: LOOPWRIGHT_SERVER__PORT or 8000.",
            show_default=False,
        ),
    ] = None,
    refresh_interval: Annotated[
        float | None,
        typer.Option(
            "--refresh-interval",
            help="Seconds between two checks for changed deployments and moved aliases. Default: 1.",
            show_default=False,
        ),
    ] = None,
    no_log: Annotated[
        bool,
        typer.Option(
            "--no-log",
            help="Do not log predictions (only to measure what logging costs: feedback and monitoring need "
            "the log).",
        ),
    ] = False,
    no_scheduler: Annotated[
        bool, typer.Option("--no-scheduler", help="Do not fire triggers here (run `loopwright scheduler`).")
    ] = False,
    no_monitors: Annotated[
        bool, typer.Option("--no-monitors", help="Do not run the monitors and their alert rules here.")
    ] = False,
    no_controller: Annotated[
        bool,
        typer.Option("--no-controller", help="Do not advance rollouts here (run `loopwright controller`)."),
    ] = False,
    interval: Annotated[
        float,
        typer.Option(
            "--interval", help="Seconds between two ticks of the scheduler, the monitors and the controller."
        ),
    ] = 10.0,
) -> None:
    """Serve the workspace's deployments: Loopwright's API, MLflow's scoring format and the Open Inference
    Protocol v2, with Prometheus metrics at /metrics. Stop it with Ctrl-C."""
    try:
        from loopwright.server.app import check_host, serve
        from loopwright.server.background import BackgroundServices
    except ImportError as error:
        raise MissingExtraError("`loopwright server`", error.name or "fastapi", "server") from None

    if host is not None:
        check_host(host)  # before opening anything: a wrong address is the first thing to hear about
    with open_client(context) as client:
        updates: dict[str, Any] = {}
        if host is not None:
            updates["host"] = host
        if port is not None:
            updates["port"] = port
        if refresh_interval is not None:
            if not 0 < refresh_interval <= 3_600:
                raise InvalidInputError(
                    f"--refresh-interval must be between 0 and 3600 seconds. Got {refresh_interval} instead."
                )
            updates["refresh_interval_s"] = refresh_interval
        if no_log:
            updates["log_predictions"] = False
        settings = client.settings.server.model_copy(update=updates)
        check_host(settings.host)
        console = output_console()
        names = [deployment.name for deployment in client.deployments.all()]
        skipped = {"scheduler": no_scheduler, "monitors": no_monitors, "controller": no_controller}
        background = BackgroundServices(
            client, [name for name, off in skipped.items() if not off], interval=interval
        )

        def listening(url: str) -> None:
            served = (
                ", ".join(names) if names else "none yet (create one with `loopwright deployments create`)"
            )
            # soft_wrap: one line each, whatever the terminal's width, for scripts that read the URL
            console.print(
                Text.assemble(("Loopwright server listening on ", "bold green"), (url, "bold")),
                soft_wrap=True,
            )
            console.print(f"Deployments: {served}.", soft_wrap=True)
            workers = ", ".join(background.services) or "none"
            console.print(f"Background: {workers} (every {interval:g} s).", soft_wrap=True)
            console.print(
                "Endpoints: /v1/deployments/NAME/predict (Loopwright), /v1/deployments/NAME/invocations "
                "(MLflow), /v2/models/NAME/infer (Open Inference Protocol), /metrics. Stop it with Ctrl-C.",
                soft_wrap=True,
            )

        serve(client, settings, on_listening=listening, background=background)
    console.print("Server stopped.")


def register(app: typer.Typer) -> None:
    """Add ``server`` to the root app."""
    app.command("server")(server)
