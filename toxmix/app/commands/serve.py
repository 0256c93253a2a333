"""`toxmix serve`: the project as a web service for a group, and its users."""

import os
from pathlib import Path
from typing import Annotated

import typer

from toxmix.core.console import out as console
from toxmix.core.errors import ToxmixError


def serve(
    root: Annotated[str, typer.Argument(help="Project folder (corpus/, manifests/, runs/...), or 'users' to manage users.")],
    action: Annotated[str | None, typer.Argument(help="With 'users': add or list.")] = None,
    name: Annotated[str | None, typer.Argument(help="With 'users add': the user's name.")] = None,
    role: Annotated[str, typer.Option(help="With 'users add': reader | author | trainer | admin.")] = "reader",
    project: Annotated[Path, typer.Option(help="With 'users': the project folder the service serves.")] = Path("."),
    host: Annotated[str, typer.Option(help="Address to bind; the loopback address unless you put a TLS proxy in front.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes answering requests (one of them runs the jobs).")] = 1,
    max_queries: Annotated[int, typer.Option(help="User SQL queries at once, across the workers; others wait, then get 'busy'.")] = 4,
    busy_wait: Annotated[float, typer.Option(help="Seconds a query waits for a free slot before 'busy'.")] = 30.0,
    query_timeout: Annotated[float, typer.Option(help="Seconds one user query may run.")] = 30.0,
    query_memory: Annotated[str, typer.Option(help="Memory one user query may use.")] = "2GB",
) -> None:
    """Serve a project folder to a group over HTTP with a web page: overview, documents, SQL, manifests, and jobs
    (train, here or on Slurm; resolve and materialize; tag; eval) with reports.

    Every request needs a token: add users first (the token is printed once; only its hash is kept in
    ROOT/.toxmix-service.sqlite). API documentation at /docs.

    Examples: toxmix serve users add alice --role author --project runs/demo;
    toxmix serve runs/demo --port 8000 --workers 4
    """
    from toxmix.app.service.state import State

    if root == "users":
        state = State(_project(project))
        if action == "add" and name:
            token = state.add_user(name, role)
            console.print(f"added {name} as {role}; their token (shown once, keep it secret):")
            print(token)
        elif action == "list":
            for user in state.users():
                console.print(f"{user['name']}\t{user['role']}")
        else:
            raise ToxmixError("use 'toxmix serve users add NAME --role ROLE' or 'toxmix serve users list'")
        return
    if action is not None:
        raise ToxmixError(f"unexpected argument {action!r}; serve takes one project folder")
    import uvicorn

    from toxmix.app.service.app import SETTINGS_ENV, ServiceSettings, create_app

    if workers < 1:
        raise ToxmixError(f"--workers {workers}: give 1 or more")
    settings = ServiceSettings(root=_project(Path(root)).resolve(), max_queries=max_queries,
                               query_timeout_s=query_timeout, query_memory=query_memory, busy_wait_s=busy_wait)
    state = State(settings.root)
    if not state.users():
        raise ToxmixError(f"no users yet: add one with 'toxmix serve users add NAME --role admin --project {root}'")
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"note: binding {host}: anyone who can reach it can try tokens; put a TLS proxy in front")
    console.print(f"serving {settings.root} on http://{host}:{port} with {workers} worker(s) (API documentation at "
                  "/docs)")
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
        return
    os.environ[SETTINGS_ENV] = settings.model_dump_json()
    uvicorn.run("toxmix.app.service.app:app_from_env", factory=True, workers=workers, host=host, port=port,
                log_level="warning")


def _project(path: Path) -> Path:
    if not path.is_dir():
        raise ToxmixError(f"no project folder {path}: give the folder that holds corpus/ (e.g. runs/demo)")
    return path


def register(app: typer.Typer) -> None:
    """Add serve to the root app."""
    app.command()(serve)
