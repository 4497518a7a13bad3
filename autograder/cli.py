"""The `autograder` command: a thin layer over pipeline.grade and the report writers.

Exit status: 0 graded (whatever the score); 1 the submission could not be graded
(a JSON result with status "error" is still written) or, for `reference`, the
reference did not get full marks; 3 the grader's own setup is wrong.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from . import authoring, batch, datasets, forking, lms, report
from ._version import __version__
from .classfolder import Entry
from .errors import SetupError
from .pipeline import grade
from .settings import Assignment, GradingContext
from .words import counted
from .results import GradeResult

console = Console(highlight=False, soft_wrap=True)  # no hard wraps in CI logs
ICONS = {"pass": "[green]✓[/]", "partial": "[yellow]½[/]", "fail": "[red]✗[/]", "error": "[magenta]![/]",
         "skipped": "[dim]–[/]"}


F = TypeVar("F", bound=Callable[..., Any])


def grading_options(func: F) -> F:
    """Options shared by every command that grades."""
    func = click.option("--data", type=click.Path(dir_okay=False, path_type=Path),
                        help="The assignment's dataset as an .npz (x_train, y_train, x_test, y_test), used instead "
                             "of the images built into the grader.")(func)
    func = click.option("--rubric", type=click.Path(dir_okay=False, path_type=Path),
                        help="Points and limits (default: the assignment's assignment.toml).")(func)
    func = click.option("--reference", "reference_nb", type=click.Path(dir_okay=False, path_type=Path),
                        help="The solution notebook (default: the one assignment.toml names).")(func)
    func = click.option("--assignment", "assignment_dir", type=click.Path(file_okay=False, path_type=Path),
                        envvar="AUTOGRADER_ASSIGNMENT",
                        help="An assignment folder that `autograder new` wrote (default: the CNN lesson built "
                             "into the grader).")(func)
    func = click.option("--cell-timeout", type=float, help="Seconds one cell may run (default: the rubric's).")(func)
    func = click.option("--notebook-timeout", type=float, help="Seconds the whole notebook may run (default: the rubric's).")(func)
    func = click.option("--no-sandbox", is_flag=True,
                        help="Run notebooks without confinement (the report says so). See `autograder doctor`.")(func)
    func = click.option("--no-fork-server", is_flag=True,
                        help="Start every kernel afresh (slower) instead of forking it from a process that "
                             "has imported TensorFlow once.")(func)
    return func


def _configuration(assignment_dir: Path | None, data: Path | None, rubric: Path | None, reference_nb: Path | None,
                   cell_timeout: float | None, notebook_timeout: float | None, no_sandbox: bool,
                   no_fork_server: bool) -> tuple[Assignment, GradingContext]:
    """The grading options, read here once: what is expected and how to grade, passed down from here."""
    assignment = Assignment.load(assignment_dir, reference=reference_nb, rubric=rubric, data_file=data)
    return assignment, GradingContext(cell_timeout=cell_timeout, notebook_timeout=notebook_timeout,
                                      sandbox=not no_sandbox, fork_server=not no_fork_server)


class Commands(click.Group):
    """Every command: a SetupError (the grader's own inputs are wrong) says which file and what to do,
    and exits 3; it is handled here once, not in each command."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SetupError as exc:
            console.print(f"[red]error:[/] {escape(str(exc))}")  # escaped: rubric keys look like [markup]
            sys.exit(3)


def print_summary(result: GradeResult) -> None:
    name = result.submission["name"]
    if result.status != "graded":
        console.print(f"[red]✗ {name}: not graded:[/] {result.reason}")
        return
    table = Table(title=f"{name}: {result.score:g} / {result.max_score:g} points ({result.percent:g}%)",
                  show_lines=False, title_justify="left")
    table.add_column("")
    table.add_column("check")
    table.add_column("points", justify="right")
    table.add_column("what was found")
    for c in result.checks:
        table.add_row(ICONS[c.status], c.id, f"{c.points:g}/{c.max_points:g}", c.message if c.status != "pass" else "")
    console.print(table)


@click.group(cls=Commands)
@click.version_option(__version__, prog_name="cnn-autograder")
def main() -> None:
    """Grade Keras notebook assignments: the built-in CNN lesson (CNN.ipynb on MNIST), or any lesson
    `autograder new` made into an assignment folder (--assignment)."""


def entry() -> None:
    """The `autograder` command: `main`, then a quick exit. A process that has run TensorFlow spends about
    a second tearing it down at exit; every file is written and closed by then, so skip that."""
    try:
        main.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    sys.stdout.flush()
    sys.stderr.flush()
    forking.shutdown()
    os._exit(code)


@main.command("grade")
@click.argument("notebooks", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the reports (default: next to each notebook).")
@click.option("--instructor", is_flag=True,
              help="Also write NAME.instructor.html: every check and expected value, whatever the rubric shows students.")
@grading_options
def grade_command(notebooks: tuple[Path, ...], output: Path | None, instructor: bool, **kwargs: Any) -> None:
    """Grade NOTEBOOKS and write NAME.report.html and NAME.result.json for each."""
    assignment, context = _configuration(**kwargs)
    failed = False
    for path in notebooks:
        result = grade(path, assignment, context)
        html, js = report.write(result, output or path.parent, path.stem, instructor_copy=instructor)
        print_summary(result)
        console.print(f"  report: {html}\n  result: {js}")
        failed |= result.status != "graded"
    sys.exit(1 if failed else 0)


@main.command("new")
@click.argument("solution", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The assignment folder to write (assignment.toml, reference/, starter/).")
@click.option("--title", help="The lesson's title in reports and LMS files (default: the notebook's first heading).")
@click.option("--points-from", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="An assignment.toml or rubric whose points, titles, limits and comments to keep.")
@click.option("--force", is_flag=True, help="Replace an assignment.toml that was changed by hand.")
@click.option("--data", type=click.Path(dir_okay=False, path_type=Path),
              help="The dataset as an .npz, for a dataset the grader has no images of (CIFAR-10).")
@click.option("--cell-timeout", type=float, help="Seconds one cell of the solution may run (default: 120).")
@click.option("--no-sandbox", is_flag=True, help="Run the solution without confinement.")
def new_command(solution: Path, output: Path, title: str | None, points_from: Path | None, force: bool,
                data: Path | None, cell_timeout: float | None, no_sandbox: bool) -> None:
    """Make a gradable assignment from SOLUTION.ipynb, a solution notebook with solution markers
    (# BEGIN SOLUTION / # END SOLUTION): the expectations, the solution and the student starter.
    docs/AUTHORING.md explains each part."""
    context = GradingContext(cell_timeout=cell_timeout, sandbox=not no_sandbox)
    with console.status(f"Running {solution.name}…"):
        made = authoring.new(solution, output, title=title, points_from=points_from, force=force,
                             context=context, data_file=data)
    console.print(f"[green]✓[/] {escape(made.title)}: {len(made.checks)} checks, {made.max_points:g} points, "
                  f"graded on {datasets.named(made.dataset).title}")
    for part, what in (("assignment.toml", "what is expected and the points: edit freely"),
                       (f"reference/{solution.name}", "the solution as given"),
                       (f"starter/{solution.name}", f"for students: {counted(made.placeholders, 'cell')} to fill in")):
        console.print(f"  {made.folder / part}  {what}")
    if not made.markers:
        console.print("[yellow]![/] The solution has no solution markers (# BEGIN SOLUTION … # END SOLUTION), so "
                      "the starter is the whole solution. docs/AUTHORING.md shows how to mark it.")
    console.print(f"Next: autograder reference --assignment {made.folder}   (the solution must earn full marks)")


@main.command("reference")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path),
              help="Also write the reference's report and result into this folder.")
@grading_options
def reference_command(output: Path | None, **kwargs: Any) -> None:
    """Grade the reference notebook; exit 1 unless it earns full marks (for CI)."""
    assignment, context = _configuration(**kwargs)
    result = grade(assignment.reference_path, assignment, context)
    if output:
        html, _ = report.write(result, output, "reference")
        console.print(f"report: {html}")
    print_summary(result)
    if not result.full_marks:
        console.print("[red]The reference does not earn full marks: the rubric, the reference or the grader "
                      "needs attention (see the checks above).[/]")
        sys.exit(1)
    console.print("[green]The reference earns full marks.[/]")


def _one_line(entry: Entry, result: dict[str, Any]) -> str:
    if result["status"] == "graded":
        return f"{entry.student}: {result['score']:g} / {result['max_score']:g}"
    return f"{entry.student}: not graded ({result['reason']})"


@main.command("batch")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for the reports, gradebook.csv and index.html (nothing is written next to the submissions).")
@click.option("--workers", type=int, help="Submissions graded at once (default: the number of cores).")
@click.option("--force", is_flag=True, help="Regrade everything, even submissions graded before.")
@click.option("--roster", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV mapping student ids (first column) to names (a 'name' column).")
@click.option("--cluster", metavar="ADDRESS", envvar="DASK_SCHEDULER_ADDRESS",
              help="Grade on a running Dask scheduler, e.g. tcp://head:8786 (default: local worker processes).")
@click.option("--lms", "lms_export", type=click.Choice(lms.SYSTEMS),
              help="Also write canvas.csv (Canvas gradebook import) or moodle.csv (Moodle's offline grading worksheet).")
@click.option("--lms-column", metavar="HEADER",
              help="Canvas: the assignment's column header as Canvas exports it, e.g. \"CNN (12345)\" "
                   "(default: assignment.toml's column, \"CNN\" for the built-in lesson).")
@click.option("--lms-points", type=click.FloatRange(min=0, min_open=True), metavar="POINTS",
              help="The assignment's maximum in the LMS (default: the roster's Points Possible or Maximum Grade, "
                   "else the rubric's); grades are scaled to it.")
@grading_options
def batch_command(source: Path, output: Path, workers: int | None, force: bool, roster: Path | None,
                  cluster: str | None, lms_export: str | None, lms_column: str | None, lms_points: float | None,
                  **kwargs: Any) -> None:
    """Grade every notebook in SOURCE (a folder, nested folders, or an LMS .zip) into OUTPUT."""
    assignment, context = _configuration(**kwargs)
    live = console.is_terminal
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeRemainingColumn(), console=console, disable=not live)
    state = {"done": 0, "total": 0}
    bar = progress.add_task("grading", total=None, visible=False)

    def on_start(total: int, todo: int) -> None:
        state["total"] = total
        console.print(f"{total} submissions in {source}: {todo} to grade, {total - todo} graded before")
        progress.update(bar, total=total, visible=True)

    hosts: dict[str, int] = {}

    def on_result(entry: Entry, result: dict[str, Any], reused: bool) -> None:
        state["done"] += 1
        host = result.get("graded_on")
        if host and not reused:
            hosts[host] = hosts.get(host, 0) + 1
        progress.update(bar, advance=1,
                        description="grading" + (f" ({', '.join(f'{h}: {n}' for h, n in hosts.items())})"
                                                 if len(hosts) > 1 else ""))
        line = f"[{state['done']}/{state['total']}] {_one_line(entry, result)}" + (" (graded before)" if reused else "")
        if cluster and host and not reused:
            line += f" (on {host})"
        if live:
            progress.console.print(line)
        else:
            print(line, flush=True)

    try:
        with progress:
            summary = batch.run(source, output, assignment, context, workers=workers, force=force, roster=roster,
                                cluster=cluster, on_start=on_start, on_result=on_result, lms_export=lms_export,
                                lms_column=lms_column, lms_points=lms_points)
    except KeyboardInterrupt:
        console.print(f"\nStopped after {state['done']} of {state['total']}. gradebook.csv and index.html cover "
                      f"what is done; run the same command again to grade the rest.")
        sys.exit(130)
    console.print(f"{summary['graded']} graded, {summary['errors']} could not be graded"
                  + (f", class average {summary['mean']}%" if summary["mean"] is not None else ""))
    if len(hosts) > 1:
        console.print("graded on: " + ", ".join(f"{h} ({n})" for h, n in sorted(hosts.items())))
    for group in summary["mixed_versions"]:
        console.print(f"[bold red]graded with different versions[/]: {group['versions']}: "
                      f"{counted(len(group['students']), 'submission')}; re-grade with --force on one set of versions")
    console.print(f"gradebook: {output / 'gradebook.csv'}\nsummary:   {output / 'index.html'}")
    if lms_export:
        scale = summary["lms_scale"]
        console.print(f"{lms_export}:    {summary['lms_file']} (grades out of {scale.out_of}"
                      + (f", the rubric's {scale.rubric_max:g} scaled" if scale.lms_max != scale.rubric_max else "")
                      + ")", markup=False)
        if summary["lms_left_out"]:
            what = ("no Canvas user id in the file name (give a --roster with Canvas' ID column)" if lms_export == "canvas"
                    else "no participant number (Moodle's folder names carry it: Name_12345_assignsubmission_file_)")
            console.print(f"  left out, {what}: " + ", ".join(summary["lms_left_out"]), markup=False)
        column = assignment.rubric.column
        if lms_export == "canvas" and lms_column is None:
            console.print(f"  The grade column is headed \"{column}\": Canvas adds it as a new assignment. To fill an "
                          "existing one, pass --lms-column with its header from Canvas' own export, e.g. "
                          f"\"{column} (12345)\".", markup=False)


@main.command("serve")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--roster", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The LMS's CSV export (id, name, ...); a new one adds students. Needed the first time, unless "
                   "an LMS is registered (autograder lti add-platform): its course list then brings them.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every network).")
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--base-url", help="The address students open, as `links` prints it (default: http://HOST:PORT), "
                                 "e.g. https://grader.school.edu behind a reverse proxy.")
@click.option("--database", metavar="URL", envvar="AUTOGRADER_DATABASE",
              help="postgresql://user:password@host/db (default: SQLite in FOLDER).")
@click.option("--cluster", metavar="ADDRESS", envvar="DASK_SCHEDULER_ADDRESS",
              help="Grade on a running Dask scheduler, e.g. tcp://head:8786 (default: local worker processes).")
@click.option("--workers", type=int, default=2, show_default=True, help="Submissions graded at once (local pool).")
@click.option("--max-upload-mb", type=click.FloatRange(min=0, min_open=True), default=20, show_default=True,
              help="The largest file accepted, in MB (larger: 413, with what to do).")
@click.option("--max-waiting", type=click.IntRange(min=1), default=3, show_default=True,
              help="Submissions one student may have waiting to be graded.")
@click.option("--lms-column", metavar="HEADER",
              help="Canvas: the assignment's column header, e.g. \"CNN (12345)\" (default: assignment.toml's column).")
@click.option("--lms-points", type=click.FloatRange(min=0, min_open=True), metavar="POINTS",
              help="The assignment's maximum in the LMS (default: the rubric's).")
@click.option("--lti-score", type=click.Choice(("latest", "best")), default="latest", show_default=True,
              help="LTI: the score posted to the LMS's gradebook after each grade, the latest or the best so far.")
@grading_options
def serve_command(folder: Path, roster: Path | None, host: str, port: int, base_url: str | None,
                  database: str | None, cluster: str | None, workers: int, max_upload_mb: float, max_waiting: int,
                  lms_column: str | None, lms_points: float | None, lti_score: str, **kwargs: Any) -> None:
    """Run the grading service: students upload their notebook from their link and read the report; FOLDER keeps
    everything (database, submitted files, reports)."""
    from .service import app, serve

    assignment, context = _configuration(**kwargs)
    limits = app.Limits(max_bytes=int(max_upload_mb * 2**20), max_waiting=max_waiting, lms_column=lms_column,
                        lms_points=lms_points)
    serve.serve(folder, roster=roster, host=host, port=port, database=database, cluster=cluster, workers=workers,
                assignment=assignment, context=context, limits=limits, base_url=base_url, score_policy=lti_score)


@main.command("links")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--renew", multiple=True, metavar="ID",
              help="Issue a new link for this student (or 'all', or 'instructor'); the old one stops working.")
@click.option("--database", metavar="URL", envvar="AUTOGRADER_DATABASE", help="As given to `serve`.")
def links_command(folder: Path, renew: tuple[str, ...], database: str | None) -> None:
    """Print CSV student,name,token,url: a new link for everyone who has none yet, and for --renew."""
    from .service import serve

    text, kept = serve.links(folder, renew, database)
    click.echo(text, nl=False)
    if text.count("\n") == 1:
        click.echo(f"No one yet: start `autograder serve {folder} --roster ROSTER.csv` first (with LTI, students "
                   "come from the LMS's course list as they open the assignment, and need no link).", err=True)
    if kept:
        click.echo(f"{kept} links were issued before and are not shown (only a hash of each is kept); "
                   "--renew ID or --renew all issues new ones.", err=True)


@main.group("lti")
def lti_group() -> None:
    """LTI 1.3: students open the service from their course in Canvas, Moodle, ...; scores go to its gradebook."""


@lti_group.command("add-platform")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--issuer", required=True, help="The LMS's issuer, e.g. https://canvas.instructure.com.")
@click.option("--client-id", required=True, help="The id the LMS gave the tool (Canvas: the developer key's id).")
@click.option("--auth-url", required=True, help="The LMS's OIDC authorization endpoint.")
@click.option("--token-url", required=True, help="The LMS's OAuth2 token endpoint (for posting scores).")
@click.option("--jwks-url", required=True, help="The LMS's public keys (JWKS).")
@click.option("--deployment-id", required=True, help="The deployment's id (Canvas: shown in the app's settings).")
def lti_add_platform_command(folder: Path, issuer: str, client_id: str, auth_url: str, token_url: str, jwks_url: str,
                             deployment_id: str) -> None:
    """Trust an LMS: its launches with this client id and deployment open the service in FOLDER."""
    from .service import lti

    lti.add_platform(folder, issuer=issuer, client_id=client_id, auth_url=auth_url, token_url=token_url,
                     jwks_url=jwks_url, deployment_id=deployment_id)
    click.echo(f"{issuer} (client {client_id}, deployment {deployment_id}) is registered in {folder}.")


@lti_group.command("config")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--base-url", required=True, help="The service's public address, e.g. https://grader.school.edu.")
@click.option("--lms", type=click.Choice(("canvas", "moodle")),
              help="Print only this LMS's settings (canvas: the developer key's JSON alone).")
def lti_config_command(folder: Path, base_url: str, lms: str | None) -> None:
    """Print what the LMS admin pastes: Canvas's developer key JSON and Moodle's tool settings."""
    import json

    from .service import lti

    if not base_url.startswith(("http://", "https://")):
        raise click.BadParameter("the service's full address, e.g. https://grader.school.edu", param_hint="--base-url")
    made = lti.config(folder, base_url)
    if lms != "moodle":
        click.echo(json.dumps(made["canvas"], indent=2))
    if lms != "canvas":
        if not lms:
            click.echo("\n# Moodle: Site administration → Plugins → Activity modules → External tool → "
                       "Manage tools → configure a tool manually")
        for field, value in made["moodle"].items():
            click.echo(f"{field}: {value}")


@main.command("gradescope")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("autograder.zip"),
              show_default=True, help="Where to write the bundle to upload to Gradescope.")
@click.option("--assignment", "assignment_dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="An assignment folder that `autograder new` wrote (default: the built-in CNN lesson).")
def gradescope_command(output: Path, assignment_dir: Path | None) -> None:
    """Build a Gradescope autograder bundle (setup.sh, run_autograder, the grader, pinned requirements)."""
    from . import gradescope

    path = gradescope.build_bundle(output, assignment_dir)
    console.print(f"wrote {path}: upload it as the assignment's autograder (configuration: zip file).")


@main.command("worker", context_settings={"ignore_unknown_options": True})
@click.argument("scheduler")
@click.option("--workers", "nworkers", type=int, default=None,
              help="Submissions graded at once on this machine (default: the number of cores).")
@click.argument("dask_options", nargs=-1, type=click.UNPROCESSED)
def worker_command(scheduler: str, nworkers: int | None, dask_options: tuple[str, ...]) -> None:
    """Join the Dask scheduler at SCHEDULER (tcp://head:8786) as grading workers: one worker process
    per submission at a time, one thread each. Other options go to `dask worker` as they are."""
    _print_layers()
    count = nworkers or os.cpu_count() or 1
    argv = [sys.executable, "-m", "distributed.cli.dask_worker", scheduler, "--nworkers", str(count),
            "--nthreads", "1", "--no-dashboard", *dask_options]
    console.print(f"starting {count} grading worker{'s' if count != 1 else ''} for {scheduler}")
    sys.stdout.flush()
    os.execv(sys.executable, argv)


def _print_layers() -> list[str]:
    from . import sandbox

    layers = sandbox.probe()
    for layer in layers:
        mark = "[green]✓[/]" if layer.active else "[yellow]✗[/]"
        console.print(f"{mark} {layer.name:<11} {layer.how}")
    return [layer.name for layer in layers if not layer.active]


@main.command("doctor")
def doctor_command() -> None:
    """Show which sandbox layers this machine supports, and why a missing one is missing."""
    missing = _print_layers()
    console.print("All layers are available." if not missing else
                  f"Grading works without {', '.join(missing)}; each report says which layers were active.")
