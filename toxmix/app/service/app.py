"""The HTTP API and web UI of `toxmix serve`: a thin layer over the functions the commands call.

Every request carries a token (`Authorization: Bearer T`, or the session cookie the login page sets, with a CSRF
header on every state change); each route names the least role it needs. Documents are returned as JSON and put
in the page as text, never as markup, under a Content-Security-Policy that forbids inline script.
"""

import base64
import hashlib
import io
import json
import os
import secrets
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from toxmix.app.api import Corpus
from toxmix.app.service.jobs import runner
from toxmix.app.service.slots import Slots
from toxmix.app.service.state import ROLES, State, User
from toxmix.core.errors import ToxmixError
from toxmix.core.figures import FIGURE_CHECK_JS
from toxmix.mixer.corpus.catalog import sql_literal
from toxmix.mixer.corpus.store import FIELDS_SCORER, CorpusLayout
from toxmix.mixer.manifest.predicate import compile_predicate
from toxmix.mixer.manifest.schema import MIXTURE_NAME_RE, parse_manifest
from toxmix.train.jobs import SLURM_TIME

STATIC = Path(__file__).parent / "static"
DOCS_ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css")
SESSION_COOKIE, CSRF_COOKIE, CSRF_HEADER = "toxmix_session", "toxmix_csrf", "x-csrf-token"
MAX_BODY = 1 << 20  # request bodies: manifests and queries are small
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# a report is one self-contained file (inline style, images as data: URLs); of its scripts only the report's own
# figure check runs here (allowed by its hash), so markup a report carries from its inputs cannot
REPORT_CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'; "
              "script-src 'sha256-" + base64.b64encode(hashlib.sha256(FIGURE_CHECK_JS.encode()).digest()).decode()
              + "'")


class ServiceSettings(BaseModel):
    """Where the project is and how much querying the service allows at once."""

    root: Path
    max_queries: int = Field(default=4, ge=1)
    query_timeout_s: float = Field(default=30, gt=0)
    query_memory: str = "2GB"
    busy_wait_s: float = Field(default=30, ge=0)  # a query waits this long for a slot, then gets "busy"


class SqlRequest(BaseModel):
    query: Annotated[str, Field(min_length=1, max_length=20_000)]
    limit: Annotated[int, Field(ge=1, le=10_000)] = 500


class SqlResult(BaseModel):
    columns: list[str]
    rows: list[list]
    total_rows: int
    truncated: bool
    ms: float


class DownloadRequest(BaseModel):
    query: Annotated[str, Field(min_length=1, max_length=20_000)]
    format: Literal["csv", "parquet"] = "csv"


class ManifestText(BaseModel):
    text: Annotated[str, Field(max_length=200_000)]


class ManifestEdit(ManifestText):
    name: str | None = None  # the manifest being edited: its folder is where relative paths resolve


class NewUser(BaseModel):
    name: str
    role: Literal["reader", "author", "trainer", "admin"]


class Login(BaseModel):
    token: Annotated[str, Field(min_length=1, max_length=200)]


class MixtureRequest(BaseModel):
    action: Literal["resolve", "materialize"]
    manifest: str


class TrainRequest(BaseModel):
    manifest: str
    preset: str = "tiny"
    steps: Annotated[int, Field(ge=1, le=1_000_000)] = 20
    seed: Annotated[int, Field(ge=0)] = 0
    executor: Literal["local", "slurm"] = "local"  # slurm: sbatch the run and follow the Slurm job
    nnodes: Annotated[int, Field(ge=2, le=1024)] = 2  # with slurm
    nproc: Annotated[int, Field(ge=1, le=64)] | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    slurm_partition: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] | None = None
    slurm_time: Annotated[str, Field(pattern=SLURM_TIME)] = "24:00:00"
    cpus_per_task: Annotated[int, Field(ge=1, le=1024)] | None = None


class TagRequest(BaseModel):
    scorer: Annotated[str, Field(min_length=3, max_length=1000)]  # KIND:MODEL[,key=value], as `toxmix tag -s`
    sources: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,128}$")]] = []
    retag: bool = False


class EvalRequest(BaseModel):
    model: Annotated[str, Field(min_length=1, max_length=1000)]  # a model folder or .gguf file in the project
    label: str  # the result goes to ROOT/evals/LABEL
    scorer: Annotated[str, Field(min_length=3, max_length=1000)] | None = None
    toxigen: Annotated[int, Field(ge=0, le=3000)] = 300
    rtp: Annotated[int, Field(ge=0, le=3000)] = 300
    k: Annotated[int, Field(ge=1, le=25)] = 5
    max_new_tokens: Annotated[int, Field(ge=1, le=256)] = 20
    ce_docs: Annotated[int, Field(ge=0, le=10_000)] = 200  # 0: no cross-entropy
    seed: Annotated[int, Field(ge=0)] = 0


def create_app(settings: ServiceSettings) -> FastAPI:
    """The service over `settings.root` (a project folder: corpus/, manifests/, runs/...)."""
    root = settings.root.resolve()
    state = State(root)
    corpus_dir = root / "corpus"
    slots = Slots(root / ".toxmix-service-slots", settings.max_queries)
    jobs = runner(state, root)

    @contextmanager
    def slot():
        """One of the service's max_queries query slots (shared by its workers), or 503 after busy_wait_s."""
        try:
            with slots.held(settings.busy_wait_s):
                yield
        except TimeoutError:
            raise HTTPException(503, f"busy: {settings.max_queries} queries are running; try again shortly") from None

    # /docs is served below from the packaged Swagger UI: FastAPI's own page loads it from a CDN (and runs an
    # inline script), which an offline service under this CSP cannot
    app = FastAPI(title="toxmix", description="The corpus, its mixtures and runs, for a research group.",
                  docs_url=None, redoc_url=None)
    app.state.jobs = jobs

    def corpus() -> Corpus:
        try:
            return Corpus(corpus_dir, timeout=settings.query_timeout_s, memory_limit=settings.query_memory)
        except ToxmixError as e:
            raise HTTPException(404, str(e)) from None

    bearer = HTTPBearer(auto_error=False, description="a token from 'toxmix serve users add'")

    def authenticated(request: Request,
                      credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> User:
        token = credentials.credentials if credentials else None
        from_cookie = token is None
        token = token or request.cookies.get(SESSION_COOKIE)
        user = state.user_for(token) if token else None
        if user is None:
            state.audit(None, "denied 401", f"{request.method} {request.url.path}")
            raise HTTPException(401, "no valid token: send 'Authorization: Bearer TOKEN' or log in",
                                headers={"WWW-Authenticate": "Bearer"})
        if from_cookie and request.method not in SAFE_METHODS:
            sent, expected = request.headers.get(CSRF_HEADER), request.cookies.get(CSRF_COOKIE)
            if not sent or not expected or not secrets.compare_digest(sent, expected):
                state.audit(user.name, "denied 403", f"{request.method} {request.url.path}: CSRF token")
                raise HTTPException(403, "missing or wrong CSRF token (the X-CSRF-Token header)")
        return user

    def role(needed: str):
        def check(request: Request, user: Annotated[User, Depends(authenticated)]) -> User:
            if not user.may(needed):
                state.audit(user.name, "denied 403", f"{request.method} {request.url.path}: needs {needed}")
                raise HTTPException(403, f"{request.url.path} needs the {needed} role; {user.name} is a {user.role}")
            return user
        return check

    Reader = Annotated[User, Depends(role("reader"))]
    Author = Annotated[User, Depends(role("author"))]
    Trainer = Annotated[User, Depends(role("trainer"))]
    Admin = Annotated[User, Depends(role("admin"))]

    @app.middleware("http")
    async def limits_and_headers(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            return JSONResponse({"detail": f"request body over {MAX_BODY:,} bytes"}, status_code=413)
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @app.exception_handler(ToxmixError)
    async def one_line(request: Request, exc: ToxmixError):
        return JSONResponse({"detail": str(exc)}, status_code=400)

    def run_query(user: User, sql: str):
        """Run one user query in a slot (at most max_queries at once), recorded in their history."""
        with slot():
            start = time.monotonic()
            try:
                table = corpus().sql(sql).arrow()
            except ToxmixError as e:
                state.record_query(user.name, sql, (time.monotonic() - start) * 1000, None, str(e))
                raise HTTPException(400, str(e)) from None
        ms = (time.monotonic() - start) * 1000
        state.record_query(user.name, sql, ms, table.num_rows, None)
        return table, ms

    # -- pages ---------------------------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> FileResponse:
        path = STATIC / name
        if "/" in name or not path.is_file():
            raise HTTPException(404, "no such file")
        return FileResponse(path)

    @app.get("/docs", include_in_schema=False)
    def docs() -> FileResponse:
        return FileResponse(STATIC / "docs.html")

    @app.get("/docs-assets/{name}", include_in_schema=False)
    def docs_asset(name: str) -> FileResponse:
        if name not in DOCS_ASSETS:
            raise HTTPException(404, "no such file")
        from importlib.resources import files

        return FileResponse(Path(str(files("fastapi_offline") / "static" / name)))

    @app.post("/api/login")
    def login(body: Login, response: Response) -> dict:
        """Exchange a token for a session cookie (HttpOnly, SameSite=Strict) and a CSRF token for the page."""
        user = state.user_for(body.token)
        if user is None:
            state.audit(None, "denied 401", "login")
            raise HTTPException(401, "unknown token")
        csrf = secrets.token_urlsafe(24)
        response.set_cookie(SESSION_COOKIE, body.token, httponly=True, samesite="strict")
        response.set_cookie(CSRF_COOKIE, csrf, samesite="strict")
        state.audit(user.name, "login", "")
        return {"name": user.name, "role": user.role, "csrf": csrf}

    # -- reader ----------------------------------------------------------------------------------------------------
    @app.get("/api/me")
    def me(user: Reader) -> dict:
        return {"name": user.name, "role": user.role, "roles": list(ROLES[:ROLES.index(user.role) + 1])}

    @app.get("/api/overview")
    def overview(user: Reader) -> dict:
        """Sources (documents, tokens, bytes, rejects), scorers, mixtures and runs."""
        c = corpus()
        stats = c.stats()
        columns, rows = stats.per_source
        mixtures = []
        if (c.layout.mixtures_root / "components").is_dir():
            table, _ = run_query(user, "SELECT * FROM mixtures ORDER BY mixture, component")
            mixtures = table.to_pylist()
        runs = sorted(p.parent.name for p in (root / "runs").glob("*/run.json"))
        return {"sources": [dict(zip(columns, r, strict=True)) for r in rows], "scorers": _scorers(c.layout),
                "mixtures": mixtures, "runs": runs, "score": stats.score_column}

    @app.get("/api/histogram")
    def histogram(user: Reader, score: str | None = None) -> dict:
        """Documents per bucket of a score (`scorer.label`; default: the corpus's first), per source."""
        stats = corpus().stats(score)
        if stats.per_bucket is None:
            raise HTTPException(404, "no scorer has tagged this corpus yet")
        columns, rows = stats.per_bucket
        return {"score": stats.score_column, "buckets": [dict(zip(columns, r, strict=True)) for r in rows]}

    @app.get("/api/documents")
    def documents(user: Reader, source: str, where: str | None = None,
                  offset: Annotated[int, Query(ge=0)] = 0,
                  limit: Annotated[int, Query(ge=1, le=200)] = 20) -> dict:
        """A page of one source's documents (a text preview each), optionally filtered by a manifest `where`."""
        c = corpus()
        if source not in c.sources:
            raise HTTPException(404, f"no source {source!r} (sources: {', '.join(c.sources)})")
        condition = f"d.source = {sql_literal(source)}"
        if where:
            columns = set(c.sql("SELECT * FROM documents LIMIT 0").columns)
            labels = {s: [x for x in c.sql(f"SELECT * FROM attributes_{s} LIMIT 0").columns
                          if x not in ("id", "source")] for s in c.scorers}
            predicate, _ = compile_predicate(where, columns, labels, "where")
            condition += f" AND ({predicate})"
        scores = "".join(f", d.{s}" for s in c.scorers)
        table, _ = run_query(user, f"SELECT d.id, d.n_tokens, left(d.text, 300) AS preview{scores} FROM docs d "
                                   f"WHERE {condition} ORDER BY d.id LIMIT {limit} OFFSET {offset}")
        return {"source": source, "offset": offset, "documents": table.to_pylist()}

    @app.get("/api/documents/{source}/{doc_id}")
    def document(user: Reader, source: str, doc_id: str) -> dict:
        """One document, its whole text and its scores."""
        c = corpus()
        if source not in c.sources:
            raise HTTPException(404, f"no source {source!r}")
        table, _ = run_query(user, f"SELECT * FROM docs WHERE source = {sql_literal(source)} "
                                   f"AND id = {sql_literal(doc_id)}")
        if table.num_rows == 0:
            raise HTTPException(404, f"no document {doc_id!r} in {source}")
        return {k: v for k, v in table.to_pylist()[0].items() if not isinstance(v, bytes)}

    @app.post("/api/sql")
    def sql(user: Reader, body: SqlRequest) -> SqlResult:
        """One confined, read-only query, bounded in time and memory as `toxmix sql` bounds it."""
        table, ms = run_query(user, body.query)
        shown = table.slice(0, body.limit)
        rows = [list(r.values()) for r in shown.to_pylist()]
        return SqlResult(columns=table.column_names, rows=_jsonable(rows), total_rows=table.num_rows,
                         truncated=table.num_rows > body.limit, ms=round(ms, 1))

    @app.post("/api/sql/download")
    def download(user: Reader, body: DownloadRequest) -> Response:
        """A query's whole result as CSV or Parquet."""
        import pyarrow.csv
        import pyarrow.parquet

        table, _ = run_query(user, body.query)
        buffer = io.BytesIO()
        if body.format == "csv":
            pyarrow.csv.write_csv(table, buffer)
            media = "text/csv"
        else:
            pyarrow.parquet.write_table(table, buffer)
            media = "application/vnd.apache.parquet"
        return Response(buffer.getvalue(), media_type=media,
                        headers={"Content-Disposition": f'attachment; filename="query.{body.format}"'})

    @app.get("/api/sql/history")
    def history(user: Reader) -> list[dict]:
        return state.history(user.name)

    @app.get("/api/manifests")
    def manifests(user: Reader) -> list[dict]:
        found = sorted((root / "manifests").rglob("*.yaml"))
        return [{"name": p.stem, "path": str(p.relative_to(root))} for p in found if p.name != "template.yaml"]

    @app.get("/api/manifests/{name}")
    def manifest(user: Reader, name: str) -> dict:
        path = _manifest_path(root, name)
        return {"name": name, "path": str(path.relative_to(root)), "text": path.read_text()}

    # -- author ----------------------------------------------------------------------------------------------------
    @app.post("/api/manifests/validate")
    def validate(user: Author, body: ManifestEdit) -> dict:
        """Check a manifest's text against the schema: the error names the field, as `toxmix manifest validate`."""
        path = _edited_path(root, body)
        try:
            parsed = parse_manifest(body.text, path).manifest
        except ToxmixError as e:
            return {"valid": False, "error": str(e).replace(f"{path}: ", "")}
        return {"valid": True, "name": parsed.name, "components": [c.name for c in parsed.components]}

    @app.post("/api/manifests/preview")
    def preview_manifest(user: Author, body: ManifestEdit) -> dict:
        """What resolving the text would draw per component (budget, share, available documents and tokens), or
        the first check that fails, infeasible budgets included; nothing is written."""
        from toxmix.app.service.preview import preview
        from toxmix.mixer.corpus.bounded import Limits

        path = _edited_path(root, body)
        with slot():
            return preview(body.text, path, Limits(settings.query_timeout_s, settings.query_memory, "4GB"))

    @app.put("/api/manifests/{name}")
    def save_manifest(user: Author, name: str, body: ManifestText) -> dict:
        """Save a manifest as ROOT/manifests/.../NAME.yaml (its own path if it exists): the text must parse, and
        name itself NAME; its lock and outputs stay its own (resolve checks who owns a mixture's outputs)."""
        from toxmix.core.files import atomic_write_bytes

        try:
            path = _manifest_path(root, name)
        except HTTPException as e:
            if e.status_code != 404:
                raise
            path = root / "manifests" / f"{name}.yaml"
        try:
            parsed = parse_manifest(body.text, path).manifest
        except ToxmixError as e:
            raise HTTPException(400, str(e).replace(f"{path}: ", "")) from None
        if parsed.name != name:
            raise HTTPException(400, f"the manifest names itself {parsed.name!r}, not {name!r}: save it as that")
        atomic_write_bytes(path, body.text.encode())
        state.audit(user.name, "save manifest", str(path.relative_to(root)))
        return {"name": name, "path": str(path.relative_to(root))}

    @app.get("/api/jobs")
    def job_list(user: Reader) -> list[dict]:
        return [_public(j) for j in jobs.list()]

    @app.get("/api/jobs/{job_id}")
    def job(user: Reader, job_id: int) -> dict:
        """A job with the tail of its log and, for training, its loss curve so far."""
        found = jobs.get(job_id)
        if found is None:
            raise HTTPException(404, f"no job {job_id}")
        log = Path(found["log"])
        tail = log.read_bytes()[-4000:].decode(errors="replace") if log.is_file() else ""
        curve = []
        metrics = Path(found["run_dir"] or "/nonexistent") / "metrics.jsonl"
        if metrics.is_file():
            from toxmix.train.record import read_metrics

            curve = [{"step": r.step, "loss": r.loss} for r in read_metrics(metrics)]
        return {**_public(found), "log_tail": tail, "loss": curve}

    @app.get("/api/reports")
    def reports(user: Reader) -> list[str]:
        """The reports under the project (`toxmix report` writes report.html), by path."""
        return sorted(str(p.relative_to(root)) for p in root.rglob("report.html")
                      if not any(part.startswith(".") for part in p.relative_to(root).parts))

    @app.get("/reports/{path:path}", include_in_schema=False)
    def report(user: Reader, path: str) -> FileResponse:
        """A report.html inside the project, with a policy that runs none of its scripts."""
        target = (root / path).resolve()
        if target.name != "report.html" or not target.is_relative_to(root) or not target.is_file():
            raise HTTPException(404, f"no report {path!r} in this project")
        return FileResponse(target, media_type="text/html", headers={"Content-Security-Policy": REPORT_CSP})

    # -- trainer ---------------------------------------------------------------------------------------------------
    @app.post("/api/jobs/train")
    def start_training(user: Trainer, body: TrainRequest) -> dict:
        """Queue `toxmix train MANIFEST --preset P --steps N --seed S` into ROOT/runs/<manifest>-<preset>-s<seed>."""
        from toxmix.train.presets import get_preset

        path = _manifest_path(root, body.manifest)
        get_preset(body.preset)  # a one-line error listing the presets
        run_dir = root / "runs" / f"{body.manifest}-{body.preset}-s{body.seed}"
        args = ["train", str(path), "--preset", body.preset, "--steps", str(body.steps), "--seed", str(body.seed),
                "--out", str(run_dir), "--device", body.device]
        if body.nproc:
            args += ["--nproc", str(body.nproc)]
        if body.executor == "slurm":
            args += ["--nnodes", str(body.nnodes), "--slurm-time", body.slurm_time, "--submit", "--follow"]
            for flag, value in (("--slurm-partition", body.slurm_partition), ("--cpus-per-task", body.cpus_per_task)):
                args += [flag, str(value)] if value else []
        return _public(jobs.get(jobs.submit("train", user.name, args, str(run_dir))))

    @app.post("/api/jobs/tag")
    def start_tagging(user: Trainer, body: TagRequest) -> dict:
        """Queue `toxmix tag -c ROOT/corpus -s SPEC [--source S...]`; a local model must be in the project."""
        from toxmix.classifiers.spec import ScorerSpec

        spec = _confined_spec(root, body.scorer)
        c = corpus()
        unknown = [s for s in body.sources if s not in c.sources]
        if unknown:
            raise HTTPException(404, f"no source {unknown[0]!r} (sources: {', '.join(c.sources)})")
        args = ["tag", "-c", str(corpus_dir), "-s", str(ScorerSpec.parse(spec))]
        args += [a for s in body.sources for a in ("--source", s)] + (["--retag"] if body.retag else [])
        return _public(jobs.get(jobs.submit("tag", user.name, args, None)))

    @app.post("/api/jobs/eval")
    def start_eval(user: Trainer, body: EvalRequest) -> dict:
        """Queue `toxmix eval MODEL --out ROOT/evals/LABEL ...` (generation toxicity and cross-entropy)."""
        if not MIXTURE_NAME_RE.match(body.label):
            raise HTTPException(400, f"label {body.label!r}: letters, digits, '_' and '-', a letter first")
        model = _inside(root, body.model, "model")
        if not model.exists():
            raise HTTPException(404, f"no model {body.model!r} in this project (a folder from 'toxmix export')")
        args = ["eval", str(model), "--out", str(root / "evals" / body.label), "--label", body.label,
                "--toxigen", str(body.toxigen), "--rtp", str(body.rtp), "--k", str(body.k),
                "--max-new-tokens", str(body.max_new_tokens), "--seed", str(body.seed)]
        args += ["--ce", "none"] if body.ce_docs == 0 else ["--ce-docs", str(body.ce_docs)]
        if body.scorer:
            args += ["--scorer", _confined_spec(root, body.scorer)]
        return _public(jobs.get(jobs.submit("eval", user.name, args, None)))

    @app.post("/api/jobs/mixture")
    def start_mixture(user: Trainer, body: MixtureRequest) -> dict:
        """Queue `toxmix manifest resolve|materialize MANIFEST`: the lock, or the lock and its OLMo token files."""
        args = ["manifest", body.action, str(_manifest_path(root, body.manifest))]
        return _public(jobs.get(jobs.submit(body.action, user.name, args, None)))

    @app.post("/api/jobs/{job_id}/cancel")
    def cancel(user: Trainer, job_id: int) -> dict:
        found = jobs.cancel(job_id, user.name)
        if found is None:
            raise HTTPException(404, f"no job {job_id}")
        return _public(found)

    # -- admin -----------------------------------------------------------------------------------------------------
    @app.get("/api/users")
    def users(user: Admin) -> list[dict]:
        return state.users()

    @app.post("/api/users")
    def add_user(user: Admin, body: NewUser) -> dict:
        """Create a user; the token is shown in this response only."""
        return {"name": body.name, "role": body.role, "token": state.add_user(body.name, body.role, by=user.name)}

    @app.get("/api/audit")
    def audit(user: Admin, limit: Annotated[int, Query(ge=1, le=5000)] = 200) -> list[dict]:
        return state.audit_log(limit)

    return app


SETTINGS_ENV = "TOXMIX_SERVICE_SETTINGS"


def app_from_env() -> FastAPI:
    """The app of one worker process: `toxmix serve --workers N` passes its settings through the environment."""
    return create_app(ServiceSettings.model_validate_json(os.environ[SETTINGS_ENV]))


def _manifest_path(root: Path, name: str) -> Path:
    """The manifest NAME under ROOT/manifests, checked as the CLI checks mixture names."""
    if not MIXTURE_NAME_RE.match(name):
        raise HTTPException(400, f"manifest name {name!r}: letters, digits, '_' and '-', a letter first")
    found = sorted((root / "manifests").rglob(f"{name}.yaml"))
    if not found:
        raise HTTPException(404, f"no manifest {name!r} under {root / 'manifests'}")
    return found[0]


def _scorers(layout: CorpusLayout) -> list[dict]:
    """Each scorer table: the labels, the model digests and the sources it has finished (from its record)."""
    found = []
    for name in layout.scorers():
        if name == FIELDS_SCORER:  # ingest's kept fields: no model behind them
            continue
        record = layout.scorer_record(name)
        found.append({"name": name, "labels": next(iter(record.values()), {}).get("labels", []),
                      "versions": sorted({m["version"] for m in record.values()}), "sources": sorted(record)})
    return found


def _inside(root: Path, text: str, what: str) -> Path:
    """A path the request names, resolved against ROOT; refused if it leads outside the project."""
    path = (root / text).resolve()
    if not path.is_relative_to(root):
        raise HTTPException(400, f"{what} {text!r} is outside the project: give a path inside it")
    return path


def _confined_spec(root: Path, text: str) -> str:
    """A scorer spec whose local files (the model, checkpoint=, config=) are inside the project; a name that is
    not a path in the project is left to the scorer (a hub id, a Detoxify release)."""
    from toxmix.classifiers.spec import ScorerSpec

    spec = ScorerSpec.parse(text)  # its errors are one line (400)
    for what, value in [("model", spec.model), *((k, v) for k, v in spec.options if k in ("checkpoint", "config"))]:
        if Path(value).is_absolute() or ".." in Path(value).parts or (root / value).exists():
            _inside(root, value, f"scorer {what}")
    return text


def _edited_path(root: Path, body: ManifestEdit) -> Path:
    """Where the edited text lives (or would): the named manifest's file, else ROOT/manifests/."""
    return _manifest_path(root, body.name) if body.name else root / "manifests" / "new.yaml"


def _jsonable(rows: list[list]) -> list[list]:
    """Bytes and other non-JSON values as text."""
    return [[v.hex() if isinstance(v, bytes) else v for v in row] for row in rows]


def _public(job: dict) -> dict:
    """A job as the API shows it (the command, not the process details)."""
    return {"id": job["id"], "kind": job["kind"], "owner": job["owner"], "state": job["state"],
            "command": "toxmix " + " ".join(json.loads(job["args"])), "code": job["code"],
            "created": job["created"], "started": job["started"], "ended": job["ended"]}
