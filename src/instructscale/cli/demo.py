"""CLI for the offline demo: `instructscale demo teacher` serves the demo world's teacher."""

from __future__ import annotations

import typer

demo_app = typer.Typer(help="The offline demo: a procedural Chinese instruction world and its teacher.",
                       invoke_without_command=True)


@demo_app.callback()
def _demo(ctx: typer.Context):
    """The offline demo: a procedural Chinese instruction world and its teacher."""
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


@demo_app.command("teacher")
def teacher(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on (0: any free port)."),
    seed: int = typer.Option(0, help="Seed of the world and of the teacher's replies."),
    latency: float = typer.Option(0.0, help="Seconds added to every reply (to mimic a real API)."),
):
    """Serve the offline teacher as an OpenAI-compatible API until interrupted.

    Point any stage at it with --base-url http://HOST:PORT/v1 (any API key works).
    """
    from instructscale.console import console
    from instructscale.demo.teacher import make_teacher
    from instructscale.llm.fake_server import FakeServer

    srv = FakeServer(responder=make_teacher(seed), host=host, port=port, latency_s=latency, model="demo-teacher")
    console.print(f"demo teacher serving on {srv.base_url} (model 'demo-teacher'); Ctrl-C to stop")
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        console.print("stopped")


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the main app."""
    app.add_typer(demo_app, name="demo")
