"""`toxmix sql` answers read-only queries and refuses writes, files, extensions, ATTACH and settings."""

import json

import pytest
from conftest import run_cli

from toxmix import Corpus
from toxmix.core.errors import ToxmixError


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, fasttext_model):
    root = tmp_path_factory.mktemp("sql")
    data = root / "d.jsonl"
    data.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(
        ["you stupid idiot, I hate you", "a calm note about gardening", "what a lovely day"])))
    corpus = root / "corpus"
    assert run_cli("ingest", "s", data, "--corpus", corpus) == 0
    assert run_cli("tag", "--corpus", corpus, "--scorer", f"fasttext:{fasttext_model}") == 0
    return corpus


REFUSED = [
    ("SELECT * FROM read_csv('/etc/passwd')", "read_csv"),
    ("SELECT * FROM '/etc/passwd'", "not a catalog view"),
    ("SELECT read_text('/etc/passwd')", "read_text"),
    ("COPY (SELECT 1) TO '/tmp/x.csv'", "COPY is refused"),
    ("INSTALL httpfs", "refused"),
    ("LOAD httpfs", "LOAD is refused"),
    ("CHECKPOINT", "CHECKPOINT is refused"),
    ("VACUUM", "VACUUM is refused"),
    ("ATTACH '/tmp/x.db' AS x", "refused"),
    ("SET enable_external_access = true", "refused"),
    ("CREATE TABLE t AS SELECT 1", "refused"),
    ("DELETE FROM documents", "refused"),
    ("SELECT 1; SELECT 2", "exactly one statement"),
    ("SELECT * FROM query('SELECT 1')", "query"),
    ("SELECT * FROM glob('/*')", "glob"),
    ("SELECT getenv('HOME')", "getenv"),
    ("SELECT * FROM other.main.t", "not a catalog view"),
    ("PRAGMA version", "refused"),
]


@pytest.mark.parametrize("sql,message", REFUSED)
def test_confinement_refuses(corpus, sql, message):
    with pytest.raises(ToxmixError, match=message):
        Corpus(corpus).sql(sql)


@pytest.mark.parametrize("sql,message", REFUSED)
def test_python_api_refuses_the_same(corpus, sql, message):
    from toxmix import Corpus

    with pytest.raises(ToxmixError, match=message):
        Corpus(corpus).sql(sql)


def test_python_api_answers_as_relations(corpus):
    from toxmix import Corpus

    c = Corpus(corpus)
    assert c.sources == ["s"] and c.scorers == ["fasttext_toxicity"]
    rel = c.sql("SELECT id, fasttext_toxicity.toxic AS toxic FROM docs ORDER BY toxic DESC")
    assert rel.pl()["id"].to_list()[0] == "0"
    assert rel.df()["id"].tolist() == rel.arrow().column("id").to_pylist() == [r[0] for r in rel.fetchall()]
    assert rel.columns == ["id", "toxic"]
    assert c.stats().per_source[1][0][0] == "s"


def test_python_api_queries_are_bounded_in_time_by_default(corpus):
    import time

    from toxmix import Corpus

    assert Corpus(corpus).timeout == 300  # the command's default, not unbounded
    start = time.monotonic()
    with pytest.raises(ToxmixError, match="query stopped after 1 s"):
        Corpus(corpus, timeout=1).sql("SELECT sum(range) FROM range(10000000000000)").fetchall()
    assert time.monotonic() - start < 30


def test_duckdb_uses_the_cores_this_process_may_use(corpus, monkeypatch):
    from toxmix.core.settings import default_threads
    from toxmix.mixer.corpus.catalog import open_catalog

    assert open_catalog(str(corpus)).sql("SELECT current_setting('threads')").fetchall() == [(default_threads(),)]
    monkeypatch.setattr("toxmix.mixer.corpus.catalog.default_threads", lambda: 7)  # as on a 7-core machine
    assert open_catalog(str(corpus)).sql("SELECT current_setting('threads')").fetchall() == [(7,)]


def test_duckdb_itself_is_locked_down(corpus):
    from toxmix.mixer.corpus.catalog import open_catalog

    con = open_catalog(str(corpus))
    with pytest.raises(Exception, match="disabled by configuration|Permission"):
        con.execute("SELECT * FROM read_csv('/etc/passwd')")
    with pytest.raises(Exception, match="locked"):
        con.execute("SET enable_external_access = true")


def test_views_and_joined_docs(corpus):
    rows = Corpus(corpus).sql("SELECT id, fasttext_toxicity.toxic FROM docs ORDER BY fasttext_toxicity.toxic DESC")
    top = rows.fetchall()
    assert top[0][0] == "0"
    n = Corpus(corpus).sql("SELECT count(*) FROM attributes_fasttext_toxicity").fetchall()[0][0]
    assert n == 3


def test_cli_formats(corpus, tmp_path, capsys):
    q = "SELECT source, count(*) AS n FROM docs GROUP BY source"
    assert run_cli("sql", q, "--corpus", corpus, "--format", "json") == 0
    assert json.loads(capsys.readouterr().out.strip()) == {"source": "s", "n": 3}
    assert run_cli("sql", q, "--corpus", corpus, "--format", "csv") == 0
    assert capsys.readouterr().out.splitlines()[1] == '"s",3'
    out = tmp_path / "r.parquet"
    assert run_cli("sql", q, "--corpus", corpus, "--format", "parquet", "--output", out) == 0
    assert out.is_file()
    assert run_cli("sql", "DROP VIEW docs", "--corpus", corpus) == 2
    assert "read-only" in capsys.readouterr().err


def test_stats_and_plots(corpus, tmp_path, capsys):
    assert run_cli("stats", "--corpus", corpus, "--plots", tmp_path / "plots") == 0
    out = capsys.readouterr().out
    assert "per bucket of fasttext_toxicity.toxic" in out
    pngs = sorted(p.name for p in (tmp_path / "plots").glob("*.png"))
    assert pngs == ["fasttext_toxicity__clean.png", "fasttext_toxicity__toxic.png"]
    assert (tmp_path / "plots" / pngs[0]).read_bytes()[:4] == b"\x89PNG"


def test_summarize_of_a_path_is_refused(corpus, tmp_path, monkeypatch):
    secret = tmp_path / ".tmp" / "secret.csv"
    secret.parent.mkdir()
    secret.write_text("a\n1\n")
    monkeypatch.chdir(tmp_path)
    for sql in ("SUMMARIZE '.tmp/secret.csv'", f"SUMMARIZE '{corpus}/documents/s/00000.parquet'"):
        with pytest.raises(ToxmixError, match="SUMMARIZE of a file path is refused"):
            Corpus(corpus).sql(sql)
    assert Corpus(corpus).sql("SUMMARIZE documents").fetchall()


@pytest.mark.parametrize("sql,options,message", [
    ("SELECT sum(range) FROM range(10000000000000)", ["--timeout", "1"], "query stopped after 1 s"),
    ("SELECT CAST(text AS INTEGER) FROM documents", [], "query failed: Conversion Error"),
    ("SELECT error('boom')", [], "query failed: Invalid Input Error: boom"),
    ("SELECT count(*) FROM (SELECT range % 1000003 AS k, list(range) AS l FROM range(30000000) GROUP BY k)",
     ["--memory-limit", "50MB", "--spill-limit", "10MB"], "query ran out of its memory or spill limit"),
    ("SELECT 1", ["--memory-limit", "lots"], "bad memory or spill limit"),
])
def test_runaway_and_failing_queries_are_one_line(corpus, capsys, sql, options, message):
    import time

    start = time.monotonic()
    assert run_cli("sql", "--corpus", corpus, *options, sql) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert time.monotonic() - start < 30


def test_sql_and_stats_warn_when_a_scorer_table_is_partial(demo_corpus, tmp_path, capsys):
    import shutil

    corpus = tmp_path / "corpus"
    shutil.copytree(demo_corpus, corpus, ignore=shutil.ignore_patterns("mixtures", "tokens"))
    query = "SELECT count(*) FROM docs"
    capsys.readouterr()
    assert run_cli("sql", query, "--corpus", corpus) == 0
    assert "warning" not in capsys.readouterr().err  # a finished tag is quiet
    meta = corpus / "meta" / "scorers" / "fasttext_toxicity.json"
    record = json.loads(meta.read_text())
    del record["davidson"]  # as if tag were killed before it finished davidson
    meta.write_text(json.dumps(record))
    for args in (["sql", query], ["stats"]):
        assert run_cli(*args, "--corpus", corpus) == 0
        said = capsys.readouterr().err
        assert "scorer fasttext_toxicity has not finished source davidson" in said, args


def test_refusals_name_the_statement_and_print_nothing_else(corpus, capsys):
    for sql, word in (("CHECKPOINT", "CHECKPOINT"), ("LOAD httpfs", "LOAD")):
        capsys.readouterr()
        assert run_cli("sql", sql, "--corpus", corpus) == 2
        err = capsys.readouterr().err
        assert f"{word} is refused" in err and "unsupported syntax" not in err and len(err.strip().splitlines()) == 1
