"""CLI for the offline demo: `demo run` runs the demo study, `demo teacher` serves its teacher."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

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
    noise_rate: float = typer.Option(0.0, "--noise-rate", min=0.0, max=1.0,
                                     help="Share of generated tasks with a planted wrong or useless answer (rated low when asked)."),
):
    """Serve the offline teacher as an OpenAI-compatible API until interrupted.

    Point any stage at it with --base-url http://HOST:PORT/v1 (any API key works).
    """
    from instructscale.console import console
    from instructscale.demo.teacher import make_teacher
    from instructscale.llm.fake_server import FakeServer

    srv = FakeServer(responder=make_teacher(seed, noise_rate), host=host, port=port, latency_s=latency, model="demo-teacher")
    console.print(f"demo teacher serving on {srv.base_url} (model 'demo-teacher'); Ctrl-C to stop")
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        console.print("stopped")


@demo_app.command("run")
def run(
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Where the demo writes (default: runs/demo, "
                                           "runs/demo_arms with --arms)."),
    arms: bool = typer.Option(False, "--arms", help="The arms demo (configs/demo_arms.yaml): planted wrong or "
                              "useless answers in the pool, random against quality-selected subsets."),
    teacher_url: Optional[str] = typer.Option(None, "--teacher-url", help="Use a real OpenAI-compatible server as "
                                              "teacher and judge instead of the offline one (e.g. llama.cpp, vLLM)."),
    teacher_model: Optional[str] = typer.Option(None, "--teacher-model", help="Model name on --teacher-url."),
    overrides: list[str] = typer.Option([], "--set", help="Override a setting of the demo's study file: "
                                        "key.path=value."),
    portable: bool = typer.Option(False, "--portable", help="Kernels that give the same numbers on every x86-64 "
                                  "CPU (slower; into runs/demo_portable unless --run-dir)."),
):
    """Run the offline demo study end to end: generate, subsets, train, respond, judge, report.

    A rerun reuses every finished stage and takes seconds.
    """
    from importlib import resources

    from instructscale.cli.study import preset_study, run_study

    if portable:
        from instructscale.reproducible import pin_cpu_kernels

        pin_cpu_kernels()
        run_dir = run_dir or Path("runs/demo_arms_portable" if arms else "runs/demo_portable")
    extra = [f"run_dir={run_dir}"] if run_dir else []
    if teacher_url:
        extra += ["teacher.offline_demo=false", f"teacher.base_url={teacher_url}",
                  f"teacher.model={teacher_model or 'default'}", "teacher.api_key_env=INSTRUCTSCALE_DEMO_KEY"]
    with resources.as_file(preset_study("demo_arms" if arms else "demo")) as path:
        run_study(path, overrides=[*extra, *overrides])


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the main app."""
    app.add_typer(demo_app, name="demo")
