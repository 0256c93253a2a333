"""`toxmix serve`: every endpoint for every role (401 without a token, 403 below the route's role), the same SQL
refusals as `toxmix sql`, hostile documents returned as data, CSRF on cookie sessions, and the page in a real
browser (Debian's chromium through selenium)."""

import json
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import run_cli

from toxmix.app.service.app import ServiceSettings, create_app
from toxmix.app.service.state import ROLES, State

HOSTILE = '<img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def project(tmp_path_factory, fasttext_model, tiny_model, shared) -> Path:
    """A project folder: a tagged corpus with one hostile document, manifests, a model, a fastText scorer, an eval
    and its report (`toxmix report`), and one user per role."""
    root = tmp_path_factory.mktemp("served")
    docs = root / "forum.jsonl"
    with open(docs, "w") as f:
        f.write(json.dumps({"id": "evil", "text": HOSTILE}) + "\n")
        for i in range(40):
            f.write(json.dumps({"id": f"d{i:02d}", "text": f"post {i}: " + "people say things " * (1 + i % 7)}) + "\n")
    assert run_cli("ingest", "forum", docs, "-c", root / "corpus") == 0
    assert run_cli("ingest", "c4", shared / "data" / "c4" / "c4-validation-2k.parquet", "-c", root / "corpus") == 0
    assert run_cli("tag", "-c", root / "corpus", "-s", f"fasttext:{fasttext_model},name=tox") == 0
    (root / "models").mkdir()
    shutil.copy(fasttext_model, root / "models" / "tox.bin")
    shutil.copytree(tiny_model, root / "models" / "tiny")
    assert run_cli("eval", root / "models" / "tiny", "--scorer", f"fasttext:{fasttext_model}", "--allow-overlap",
                   "--toxigen", "8", "--rtp", "0", "--k", "2", "--max-new-tokens", "4", "--ce-docs", "8", "--label",
                   "tiny", "--out", root / "evals" / "tiny") == 0
    assert run_cli("report", root / "evals" / "tiny", "--out", root / "report", "--title", "served report") == 0
    (root / "evals" / "report.html").write_text(f"<html><body><h1>Table 1</h1><p>{HOSTILE.replace('<', '&lt;')}</p>"
                                               "<script>alert(2)</script></body></html>")
    (root / "manifests").mkdir()
    (root / "manifests" / "mix.yaml").write_text(yaml.safe_dump({
        "name": "mix", "corpus": "../corpus", "seed": 1, "components": [{"name": "all", "source": "forum",
                                                                        "tokens": 500}]}, sort_keys=False))
    (root / "manifests" / "web.yaml").write_text(yaml.safe_dump({
        "name": "web", "corpus": "../corpus", "seed": 1, "components": [{"name": "all", "source": "c4",
                                                                        "tokens": 60_000}]}, sort_keys=False))
    return root


@pytest.fixture(scope="module")
def tokens(project) -> dict[str, str]:
    state = State(project)
    return {role: state.add_user(f"u-{role}", role) for role in ROLES}


@pytest.fixture(scope="module")
def client(project):
    from fastapi.testclient import TestClient

    return TestClient(create_app(ServiceSettings(root=project, max_queries=2)))


# (method, path, body, the least role that may, the status it then gets)
ROUTES = [
    ("GET", "/api/me", None, "reader"),
    ("GET", "/api/jobs", None, "reader"),
    ("GET", "/api/reports", None, "reader"),
    ("GET", "/reports/evals/report.html", None, "reader"),
    ("GET", "/api/jobs/999999", None, "reader", 404),
    ("POST", "/api/jobs/train", {"manifest": "nosuch"}, "trainer", 404),
    ("POST", "/api/jobs/mixture", {"action": "resolve", "manifest": "nosuch"}, "trainer", 404),
    ("POST", "/api/jobs/999999/cancel", None, "trainer", 404),
    ("POST", "/api/jobs/tag", {"scorer": "fasttext:models/tox.bin", "sources": ["nosuch"]}, "trainer", 404),
    ("POST", "/api/jobs/eval", {"model": "models/nosuch", "label": "x"}, "trainer", 404),
    ("GET", "/api/overview", None, "reader"),
    ("GET", "/api/histogram", None, "reader"),
    ("GET", "/api/documents?source=forum", None, "reader"),
    ("GET", "/api/documents/forum/evil", None, "reader"),
    ("POST", "/api/sql", {"query": "SELECT count(*) AS n FROM documents"}, "reader"),
    ("POST", "/api/sql/download", {"query": "SELECT 1 AS one"}, "reader"),
    ("GET", "/api/sql/history", None, "reader"),
    ("GET", "/api/manifests", None, "reader"),
    ("GET", "/api/manifests/mix", None, "reader"),
    ("POST", "/api/manifests/validate", {"text": "name: x"}, "author"),
    ("POST", "/api/manifests/preview", {"text": "name: x"}, "author"),
    ("PUT", "/api/manifests/zz", {"text": "name: x"}, "author", 400),
    ("GET", "/api/users", None, "admin"),
    ("POST", "/api/users", {"name": "newcomer", "role": "reader"}, "admin"),
    ("GET", "/api/audit", None, "admin"),
]


def _call(client, method, path, body, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize("route", ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES])
def test_every_route_for_every_role(client, tokens, route):
    method, path, body, least, *ok = route
    assert _call(client, method, path, body).status_code == 401
    assert _call(client, method, path, body, "not-a-token").status_code == 401
    for role in ROLES:
        if path == "/api/users" and method == "POST":
            body = {"name": f"new-{role}", "role": "reader"}
        r = _call(client, method, path, body, tokens[role])
        allowed = ROLES.index(role) >= ROLES.index(least)
        assert r.status_code == ((ok or [200])[0] if allowed else 403), (role, r.status_code, r.text)
        assert r.headers["content-security-policy"].startswith("default-src 'none'")


def test_denials_are_audited_and_tokens_stored_hashed(client, tokens, project):
    _call(client, "GET", "/api/users", None, tokens["reader"])
    log = _call(client, "GET", "/api/audit", None, tokens["admin"]).json()
    assert any(e["action"] == "denied 403" and e["user"] == "u-reader" and "/api/users" in e["detail"] for e in log)
    assert any(e["action"] == "denied 401" for e in log)
    stored = (project / ".toxmix-service.sqlite").read_bytes()
    assert all(t.encode() not in stored for t in tokens.values())


def test_sql_is_confined_bounded_and_remembered(client, tokens, project):
    r = _call(client, "POST", "/api/sql", {"query": "SELECT id FROM documents ORDER BY id", "limit": 5},
              tokens["reader"]).json()
    assert r["columns"] == ["id"] and r["total_rows"] == 2041 and r["truncated"] and len(r["rows"]) == 5
    refused = _call(client, "POST", "/api/sql", {"query": "SELECT * FROM read_csv('/etc/passwd')"},
                    tokens["reader"])
    assert refused.status_code == 400
    from toxmix import Corpus
    from toxmix.core.errors import ToxmixError

    with pytest.raises(ToxmixError) as e:
        Corpus(project / "corpus").sql("SELECT * FROM read_csv('/etc/passwd')")
    assert refused.json()["detail"] == str(e.value)  # the very refusal toxmix sql prints
    csv = _call(client, "POST", "/api/sql/download", {"query": "SELECT id FROM documents WHERE source = 'forum' "
                                                         "ORDER BY id LIMIT 3"},
                tokens["reader"])
    assert csv.text.splitlines() == ['"id"', '"d00"', '"d01"', '"d02"']
    history = _call(client, "GET", "/api/sql/history", None, tokens["reader"]).json()
    assert history[0]["sql"].startswith("SELECT id FROM documents WHERE source = 'forum'")
    assert any(h["error"] for h in history)


def test_hostile_documents_are_data_and_pages_forbid_inline_script(client, tokens):
    doc = _call(client, "GET", "/api/documents/forum/evil", None, tokens["reader"]).json()
    assert doc["text"] == HOSTILE and "tox" in doc
    page = client.get("/")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text and "onclick" not in page.text
    listed = _call(client, "GET", "/api/documents?source=forum&where=n_tokens%20%3E%2020", None,
                   tokens["reader"]).json()["documents"]
    assert listed and all(d["n_tokens"] > 20 for d in listed)
    bad = _call(client, "GET", "/api/documents?source=forum&where=1%3D1%3B%20DROP%20TABLE%20x", None,
                tokens["reader"])
    assert bad.status_code == 400 and "where" in bad.json()["detail"]


def test_cookie_sessions_need_the_csrf_header(project, tokens):
    from fastapi.testclient import TestClient

    browser = TestClient(create_app(ServiceSettings(root=project)))
    login = browser.post("/api/login", json={"token": tokens["author"]})
    assert login.status_code == 200
    assert browser.get("/api/me").json()["name"] == "u-author"  # the cookie authenticates reads
    body = {"text": "name: x"}
    assert browser.post("/api/manifests/validate", json=body).status_code == 403
    ok = browser.post("/api/manifests/validate", json=body, headers={"X-CSRF-Token": login.json()["csrf"]})
    assert ok.status_code == 200 and not ok.json()["valid"]


def test_manifest_validation_names_the_field(client, tokens, project):
    text = (project / "manifests" / "mix.yaml").read_text()
    good = _call(client, "POST", "/api/manifests/validate", {"text": text}, tokens["author"]).json()
    assert good == {"valid": True, "name": "mix", "components": ["all"]}
    bad = _call(client, "POST", "/api/manifests/validate", {"text": text.replace("tokens: 500", "tokens: -5")},
                tokens["author"]).json()
    assert not bad["valid"] and bad["error"].startswith("components.all.tokens:"), bad
    assert not list((project / "manifests").glob("tmp*"))  # the text checked leaves no file behind
    assert _call(client, "GET", "/api/manifests/..%2Fetc", None, tokens["reader"]).status_code in (400, 404)


def test_the_api_page_loads_nothing_from_elsewhere(client):
    import re

    page = client.get("/docs")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(a.startswith("/") or a.startswith("data:") for a in assets), assets
    assert all(client.get(a).status_code == 200 for a in assets if a.startswith("/"))
    assert client.get("/docs-assets/index.html").status_code == 404
    assert "HTTPBearer" in client.get("/openapi.json").json()["components"]["securitySchemes"]


def test_oversized_bodies_are_refused(client, tokens):
    r = client.post("/api/sql", content=b"x" * (2 << 20), headers={"Authorization": f"Bearer {tokens['reader']}",
                                                                   "Content-Type": "application/json"})
    assert r.status_code == 413


def _own_project(project: Path, to: Path) -> tuple[Path, str]:
    """A copy of the project's corpus, manifests, models and reports, with a trainer's token: a service started on
    it runs its own jobs (this test process's runner leads the jobs of `project`, one runner per project)."""
    skip = {"runs", "service-jobs", "corpus/mixtures", "corpus/tokens", "corpus/locks"}

    def ignore(folder: str, names: list[str]) -> list[str]:
        rel = Path(folder).relative_to(project)
        return [n for n in names if str(rel / n).removeprefix("./") in skip or n.startswith(".toxmix-service")
                or n.endswith(".lock.json")]

    shutil.copytree(project, to, ignore=ignore)
    return to, State(to).add_user("t", "trainer")


def _serve(root: Path, *flags: str) -> tuple[subprocess.Popen, int]:
    """`toxmix serve ROOT` on a free port, once it answers."""
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "toxmix.app.cli", "serve", str(root), "--port", str(port),
                               *flags], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server, port
        except OSError:
            assert server.poll() is None and time.monotonic() < deadline, server.stdout.read()
            time.sleep(0.2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_page_in_a_real_browser(project, tokens, tmp_path):
    """Log in, see the overview's histogram, run a query, open the hostile document as text (no dialog, no console
    error), and see a manifest's field-named error; screenshots are saved beside the test's files."""
    from selenium import webdriver
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.ui import WebDriverWait

    root, token = _own_project(project, tmp_path / "project")
    server, port = _serve(root)
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = None
    try:
        driver = webdriver.Chrome(options=options, service=webdriver.ChromeService("/usr/bin/chromedriver"))
        wait = WebDriverWait(driver, 30)
        driver.get(f"http://127.0.0.1:{port}/")
        driver.find_element(By.ID, "token").send_keys(token)
        driver.find_element(By.CSS_SELECTOR, "#login-form button").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#histogram svg rect"))
        assert "forum" in driver.find_element(By.ID, "sources").text
        assert "tox" in driver.find_element(By.ID, "scorers").text  # the scorer, its labels and model digest
        driver.save_screenshot(str(tmp_path / "overview.png"))
        driver.find_element(By.CSS_SELECTOR, "#tabs [data-tab=sql]").click()
        driver.find_element(By.CSS_SELECTOR, "#sql-form button[type=submit]").click()
        wait.until(lambda d: "rows in" in d.find_element(By.ID, "sql-status").text)
        assert "forum" in driver.find_element(By.ID, "sql-result").text
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        driver.find_element(By.ID, "sql-csv").click()
        csv = downloads / "query.csv"
        wait.until(lambda d: csv.is_file() and "forum" in csv.read_text(), "the query's CSV did not download")
        assert csv.read_text().splitlines()[0] == '"source","docs"'
        driver.save_screenshot(str(tmp_path / "sql.png"))
        driver.find_element(By.CSS_SELECTOR, "#tabs [data-tab=documents]").click()
        Select(driver.find_element(By.ID, "doc-source")).select_by_visible_text("forum")
        driver.find_element(By.ID, "doc-where").send_keys("id = 'evil'")
        driver.find_element(By.CSS_SELECTOR, "#doc-form button").click()
        wait.until(lambda d: "evil" in d.find_element(By.ID, "doc-list").text)
        next(r for r in driver.find_elements(By.CSS_SELECTOR, "#doc-list tr") if "evil" in r.text).click()
        wait.until(lambda d: d.find_element(By.ID, "doc-text").text)
        assert driver.find_element(By.ID, "doc-text").text == HOSTILE  # shown as text, not as an image
        assert not driver.find_elements(By.CSS_SELECTOR, "#doc-text img")
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert.text  # noqa: B018 - reading it is the check
        driver.save_screenshot(str(tmp_path / "document.png"))
        driver.find_element(By.CSS_SELECTOR, "#tabs [data-tab=manifests]").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#manifest-list li"))
        next(li for li in driver.find_elements(By.CSS_SELECTOR, "#manifest-list li") if li.text.endswith("mix.yaml")
             ).click()
        # "valid: ..." while the preview runs, then "feasible: mix" (a fast preview may skip the first)
        wait.until(lambda d: d.find_element(By.ID, "manifest-check").text.startswith(("valid", "feasible")),
                   "the manifest was not checked")
        box = driver.find_element(By.ID, "manifest-text")
        text = box.get_attribute("value")
        box.clear()
        box.send_keys(text.replace("tokens: 500", "tokens: -5"))
        wait.until(lambda d: "components.all.tokens" in d.find_element(By.ID, "manifest-check").text)
        box.clear()
        box.send_keys(text.replace("tokens: 500", "tokens: 900000000"))
        wait.until(lambda d: "infeasible manifest" in d.find_element(By.ID, "manifest-check").text)
        box.clear()
        box.send_keys(text.replace("tokens: 500", "tokens: 400"))
        wait.until(lambda d: "feasible: mix" in d.find_element(By.ID, "manifest-check").text)
        assert "400" in driver.find_element(By.ID, "manifest-preview").text  # the budget, and what is available
        driver.save_screenshot(str(tmp_path / "manifest.png"))
        driver.find_element(By.CSS_SELECTOR, "#tabs [data-tab=runs]").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#train-manifest option"))
        Select(driver.find_element(By.ID, "train-manifest")).select_by_visible_text("web")
        steps = driver.find_element(By.ID, "train-steps")
        steps.clear()
        steps.send_keys("8")
        driver.find_element(By.CSS_SELECTOR, "#train-form button").click()
        points = []
        for _ in range(600):  # the curve grows while the job runs, until the job is done
            # read in the page in one step: the curve is redrawn every second, so a held element goes stale
            n = driver.execute_script("const l = document.querySelector('#job-curve polyline');"
                                      "return l ? l.getAttribute('points').split(' ').length : 0;")
            if n and (not points or n != points[-1]):
                points.append(n)
            if "done" in driver.find_element(By.ID, "job-title").text or "failed" in driver.find_element(
                    By.ID, "job-title").text:
                break
            time.sleep(0.25)
        assert "done" in driver.find_element(By.ID, "job-title").text, driver.find_element(By.ID, "job-log").text
        assert points[-1] == 8 and len(points) >= 2, points  # seen growing, then whole
        driver.save_screenshot(str(tmp_path / "run.png"))
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
        wait.until(lambda d: any(a.text == "report/report.html" for a in d.find_elements(By.CSS_SELECTOR,
                                                                                        "#report-list a")),
                   "the report is not listed")
        next(a for a in driver.find_elements(By.CSS_SELECTOR, "#report-list a") if a.text == "report/report.html"
             ).click()  # what `toxmix report` wrote, opened in its own tab
        wait.until(lambda d: len(d.window_handles) == 2, "the report did not open in a tab")
        driver.switch_to.window(driver.window_handles[1])
        wait.until(lambda d: "served report" in d.find_element(By.TAG_NAME, "h1").text, "no report title")
        # the report's own check ran (its hash is allowed) and counted every figure decoded
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-figures"),
                   "the report's figure check did not run")
        loaded, total = driver.find_element(By.TAG_NAME, "body").get_attribute("data-figures").split("/")
        assert loaded == total and int(total) >= 1 and driver.find_elements(By.CSS_SELECTOR, "table")
        driver.save_screenshot(str(tmp_path / "report.png"))
        driver.get(f"http://127.0.0.1:{port}/docs")  # the API's page, from packaged assets only
        wait.until(lambda d: any("/api/sql" in e.text for e in d.find_elements(By.CSS_SELECTOR, ".opblock-summary")),
                   "the API page did not render")
        assert driver.find_elements(By.CSS_SELECTOR, ".authorize")  # the bearer token can be given there
        driver.save_screenshot(str(tmp_path / "docs.png"))
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
        shots = ("overview", "sql", "document", "manifest", "run", "report", "docs")
        assert all((tmp_path / f"{n}.png").stat().st_size > 1000 for n in shots)
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(timeout=30)


def test_users_are_added_from_the_command_and_serving_needs_one(tmp_path, project, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_cli("serve", str(empty)) == 2
    assert "no users yet: add one with 'toxmix serve users add" in capsys.readouterr().err
    assert run_cli("serve", "users", "add", "carol", "--role", "trainer", "--project", empty) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert State(empty).user_for(token).role == "trainer"
    assert run_cli("serve", "users", "add", "carol", "--project", empty) == 2
    assert "user 'carol' exists already" in capsys.readouterr().err
    assert run_cli("serve", "users", "add", "x", "--role", "root", "--project", empty) == 2
    assert "role 'root'" in capsys.readouterr().err


def _wait_job(get, job_id: int, states: tuple[str, ...], timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = get(job_id)
        if job["state"] in states:
            return job
        time.sleep(0.3)
    raise TimeoutError(f"job {job_id} still {job['state']}: {job.get('log_tail', '')[-2000:]}")


def test_jobs_are_audited_and_a_bad_preset_is_refused_before_queueing(client, tokens, project):
    """(A training job running once with its loss curve: the browser and restart tests.)"""
    start = _call(client, "POST", "/api/jobs/mixture", {"action": "resolve", "manifest": "web"}, tokens["trainer"])
    assert start.status_code == 200 and start.json()["state"] == "queued"
    done = _wait_job(lambda i: _call(client, "GET", f"/api/jobs/{i}", None, tokens["reader"]).json(),
                     start.json()["id"], ("done", "failed"))
    assert done["state"] == "done" and done["code"] == 0, done["log_tail"]
    log = _call(client, "GET", "/api/audit", None, tokens["admin"]).json()
    assert any(e["action"] == "start resolve" and e["user"] == "u-trainer" for e in log)
    queued = len(_call(client, "GET", "/api/jobs", None, tokens["reader"]).json())
    bad = _call(client, "POST", "/api/jobs/train", {"manifest": "web", "preset": "gpt5"}, tokens["trainer"])
    assert bad.status_code == 400 and "unknown preset 'gpt5'" in bad.json()["detail"]
    assert len(_call(client, "GET", "/api/jobs", None, tokens["reader"]).json()) == queued


def test_a_service_killed_mid_job_reattaches_after_a_restart_and_never_runs_it_twice(project, tmp_path):
    import httpx

    root, token = _own_project(project, tmp_path / "project")

    def up(port):
        return httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30,
                            headers={"Authorization": f"Bearer {token}"})

    first, port = _serve(root)
    try:
        http = up(port)
        job_id = http.post("/api/jobs/train", json={"manifest": "web", "steps": 40, "seed": 4}).json()["id"]
        deadline = time.monotonic() + 300
        while len(http.get(f"/api/jobs/{job_id}").json()["loss"]) < 2:  # training, with steps behind it
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        first.kill()  # kill -9: no clean-up of any kind
        first.wait()
    state = sqlite3.connect(root / ".toxmix-service.sqlite")
    pid = state.execute("SELECT pid FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]
    assert Path(f"/proc/{pid}").exists()  # the trainer outlived the service
    second, port = _serve(root)
    try:
        http = up(port)
        get = lambda i: http.get(f"/api/jobs/{i}").json()  # noqa: E731
        assert get(job_id)["state"] == "running"  # re-attached, not restarted
        done = _wait_job(get, job_id, ("done", "failed"), timeout=600)
        assert done["state"] == "done", done["log_tail"]
        assert [p["step"] for p in done["loss"]] == list(range(1, 41))
        log = Path(state.execute("SELECT log FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]).read_text()
        assert log.count("training web-tiny-s4") == 1  # started once
    finally:
        second.terminate()
        second.wait(timeout=30)


def test_reports_are_served_from_the_project_only_and_run_no_script(client, tokens):
    assert _call(client, "GET", "/api/reports", None, tokens["reader"]).json() == ["evals/report.html",
                                                                                  "report/report.html"]
    page = _call(client, "GET", "/reports/evals/report.html", None, tokens["reader"])
    policy = page.headers["content-security-policy"]
    scripts = next(d for d in policy.split("; ") if d.startswith("script-src"))
    assert "Table 1" in page.text and scripts.split() == ["script-src", scripts.split()[1]]  # one hash, no more
    assert scripts.split()[1].startswith("'sha256-")  # the report's own figure check, not alert(2)
    assert "default-src 'none'" in page.headers["content-security-policy"]  # so its inline script does not run
    for escape in ("/reports/../../etc/passwd", "/reports/%2e%2e/%2e%2e/etc/passwd", "/reports/manifests/mix.yaml"):
        assert _call(client, "GET", escape, None, tokens["reader"]).status_code == 404


def test_a_manifest_is_previewed_without_writing_and_saved_under_its_own_name(client, tokens, project):
    text = (project / "manifests" / "mix.yaml").read_text()
    locked = (project / "manifests" / "mix.lock.json").exists()
    preview = lambda t: _call(client, "POST", "/api/manifests/preview", {"text": t, "name": "mix"},  # noqa: E731
                              tokens["author"]).json()
    too_much = preview(text.replace("tokens: 500", "tokens: 900000000"))
    assert not too_much["feasible"] and too_much["error"].startswith("infeasible manifest: all: requested 900,000,000")
    ok = preview(text.replace("tokens: 500", "tokens: 400"))
    available = _call(client, "POST", "/api/sql", {"query": "SELECT count(*) FROM documents WHERE source = 'forum'"},
                      tokens["reader"]).json()["rows"][0][0]
    assert ok["feasible"] and ok["components"][0]["budget"] == 400 and ok["components"][0]["share"] == 1.0
    assert ok["components"][0]["available_docs"] == available
    assert (project / "manifests" / "mix.lock.json").exists() == locked  # a preview writes no lock
    fresh = text.replace("name: mix", "name: fresh")
    assert _call(client, "PUT", "/api/manifests/other", {"text": fresh}, tokens["author"]).status_code == 400
    saved = _call(client, "PUT", "/api/manifests/fresh", {"text": fresh}, tokens["author"])
    assert saved.json() == {"name": "fresh", "path": "manifests/fresh.yaml"}
    assert (project / "manifests" / "fresh.yaml").read_text() == fresh
    broken = _call(client, "PUT", "/api/manifests/fresh", {"text": fresh + "extra: 1\n"}, tokens["author"])
    assert broken.status_code == 400 and "extra: unknown key" in broken.json()["detail"]
    assert (project / "manifests" / "fresh.yaml").read_text() == fresh  # a bad text never replaces a good file


def test_a_materialize_job_writes_the_lock_and_token_files(client, tokens, project):
    start = _call(client, "POST", "/api/jobs/mixture", {"action": "materialize", "manifest": "mix"}, tokens["trainer"])
    assert start.status_code == 200 and start.json()["kind"] == "materialize"
    done = _wait_job(lambda i: _call(client, "GET", f"/api/jobs/{i}", None, tokens["reader"]).json(),
                     start.json()["id"], ("done", "failed"))
    assert done["state"] == "done", done["log_tail"]
    from toxmix.mixer.manifest.lockfile import read_lock

    lock = read_lock(project / "manifests" / "mix.lock.json")
    assert lock.materialized is not None and all(Path(p).is_file() for p in lock.materialized.paths())


def test_tag_and_eval_jobs_run_the_commands_on_files_inside_the_project(client, tokens, project):
    get = lambda i: _call(client, "GET", f"/api/jobs/{i}", None, tokens["reader"]).json()  # noqa: E731
    post = lambda path, body: _call(client, "POST", path, body, tokens["trainer"])  # noqa: E731
    for spec in ("fasttext:/etc/passwd", "fasttext:../../x.bin", "detoxify:original,checkpoint=/etc/hosts"):
        refused = post("/api/jobs/tag", {"scorer": spec})
        assert refused.status_code == 400 and "outside the project" in refused.json()["detail"], spec
    bad = post("/api/jobs/tag", {"scorer": "nosuch:x"})
    assert bad.status_code == 400 and "bad scorer spec 'nosuch:x'" in bad.json()["detail"]
    tag = post("/api/jobs/tag", {"scorer": "fasttext:models/tox.bin,name=second", "sources": ["forum"]})
    assert tag.status_code == 200 and tag.json()["kind"] == "tag"
    done = _wait_job(get, tag.json()["id"], ("done", "failed"))
    assert done["state"] == "done", done["log_tail"]
    scored = _call(client, "POST", "/api/sql", {"query": "SELECT count(*) FROM attributes_second"},
                   tokens["reader"]).json()["rows"][0][0]
    assert scored == 41  # every forum document, and only those
    scorers = {s["name"]: s for s in _call(client, "GET", "/api/overview", None, tokens["reader"]).json()["scorers"]}
    assert scorers["second"]["sources"] == ["forum"] and scorers["tox"]["sources"] == ["c4", "forum"]
    assert scorers["second"]["versions"] == scorers["tox"]["versions"] and scorers["second"]["labels"]
    assert post("/api/jobs/eval", {"model": "../models", "label": "x"}).status_code == 400
    assert post("/api/jobs/eval", {"model": "models/tiny", "label": "../x"}).status_code == 400
    job = post("/api/jobs/eval", {"model": "models/tiny", "label": "served", "toxigen": 0, "rtp": 0, "ce_docs": 4})
    done = _wait_job(get, job.json()["id"], ("done", "failed"))
    assert done["state"] == "done", done["log_tail"]
    result = json.loads((project / "evals" / "served" / "result.json").read_text())
    assert result["conditions"][0]["cross_entropy"]["texts"] == 4 and result["label"] == "served"


def test_query_slots_hold_across_processes(tmp_path):
    from toxmix.app.service.slots import Slots

    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from toxmix.app.service.slots import Slots\n"
                               f"with Slots(Path({str(tmp_path)!r}), 1).held(5):\n"
                               "    print('held', flush=True); time.sleep(30)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(TimeoutError), Slots(tmp_path, 1).held(0.3):
            pass
        with Slots(tmp_path, 2).held(0.3):  # a second slot is free
            pass
    finally:
        holder.kill()
        holder.wait()
    with Slots(tmp_path, 1).held(0.3):  # a dead holder's slot is free again
        pass


def test_one_runner_leads_a_projects_jobs_and_the_next_takes_over(tmp_path):
    from toxmix.app.service.jobs import Jobs

    state = State(tmp_path)
    first, second = Jobs(state, tmp_path, poll_s=0.05), Jobs(state, tmp_path, poll_s=0.05)
    job_id = first.submit("resolve", "me", ["--help"], None)
    deadline = time.monotonic() + 60
    while first.get(job_id)["state"] != "done":
        assert time.monotonic() < deadline, first.get(job_id)
        time.sleep(0.05)
    leaders = [j for j in (first, second) if j._leader is not None]
    assert len(leaders) == 1  # the other queues and shows jobs, and waits for the lock
    assert Path(first.get(job_id)["log"]).read_text().count("Usage: toxmix") == 1  # ran once


def test_several_workers_share_the_query_slots_and_run_jobs(project, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    root, token = _own_project(project, tmp_path / "project")
    server, port = _serve(root, "--workers", "2", "--max-queries", "1", "--busy-wait", "1")
    try:
        workers = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        assert len(workers) >= 2, workers  # the two workers (and uvicorn's resource tracker)
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60,
                            headers={"Authorization": f"Bearer {token}"})
        slow = {"query": "SELECT sum(a.range * b.range) FROM range(40000) a, range(40000) b"}  # ~4 s
        with ThreadPoolExecutor(6) as pool:
            codes = sorted(pool.map(lambda _: http.post("/api/sql", json=slow).status_code, range(6)))
        assert codes.count(200) == 1 and codes.count(503) == 5, codes  # one slot for the whole service
        job = http.post("/api/jobs/mixture", json={"action": "resolve", "manifest": "mix"}).json()
        done = _wait_job(lambda i: http.get(f"/api/jobs/{i}").json(), job["id"], ("done", "failed"), timeout=120)
        assert done["state"] == "done", done["log_tail"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_training_job_on_slurm_is_followed_to_its_end_and_cancelled_there(client, tokens, project, slurm,
                                                                            monkeypatch):
    """`executor: slurm`: the job runs `toxmix train --nnodes 2 --submit --follow` on the real test Slurm; the
    service's job ends with the Slurm job, and cancelling it cancels the Slurm job."""
    monkeypatch.setenv("SLURM_CONF", slurm.env["SLURM_CONF"])  # what the service's environment has on a cluster
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    get = lambda i: _call(client, "GET", f"/api/jobs/{i}", None, tokens["reader"]).json()  # noqa: E731
    on_slurm = {"manifest": "web", "executor": "slurm", "nnodes": 2, "nproc": 1, "device": "cpu",
                "slurm_partition": "cpu", "slurm_time": "30", "cpus_per_task": 1}
    job = _call(client, "POST", "/api/jobs/train", {**on_slurm, "steps": 6, "seed": 8}, tokens["trainer"]).json()
    done = _wait_job(get, job["id"], ("done", "failed"))
    assert done["state"] == "done", done["log_tail"]
    assert "submitted Slurm job" in done["log_tail"] and "done: Slurm job" in done["log_tail"]
    assert [p["step"] for p in done["loss"]] == [1, 2, 3, 4, 5, 6]
    slurm_id = (project / "runs" / "web-tiny-s8" / "slurm-job").read_text().strip()
    assert slurm.job(slurm_id)["JobState"] == "COMPLETED"
    long = _call(client, "POST", "/api/jobs/train", {**on_slurm, "steps": 400, "seed": 9}, tokens["trainer"]).json()
    deadline = time.monotonic() + 300
    while len(get(long["id"])["loss"]) < 1:
        assert time.monotonic() < deadline, get(long["id"])["log_tail"]
        time.sleep(0.3)
    slurm_id = (project / "runs" / "web-tiny-s9" / "slurm-job").read_text().strip()
    assert _call(client, "POST", f"/api/jobs/{long['id']}/cancel", None, tokens["trainer"]).json()["state"] == \
        "cancelled"
    deadline = time.monotonic() + 60
    while slurm.job(slurm_id)["JobState"] != "CANCELLED":
        assert time.monotonic() < deadline, slurm.job(slurm_id)
        time.sleep(0.3)
    slurm.wait(120)
