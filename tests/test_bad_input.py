"""Bad records never crash a run: each is counted by reason and kept, and in = stored + rejected."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
from conftest import run_cli

from mixer.corpus.catalog import run_query
from mixer.corpus.records import MAX_DOC_BYTES


def _reasons(corpus) -> dict[str, int]:
    return dict(run_query(str(corpus), "SELECT reason, count(*) FROM rejected GROUP BY 1").fetchall())


def test_every_bad_jsonl_case(tmp_path, capsys):
    lines = [
        json.dumps({"id": "ok1", "text": "a good document"}).encode(),
        b'{"id": "broken", "text": "no closing brace"',
        b'{"id": "bad-utf8", "text": "caf\xe9"}',
        json.dumps({"id": "empty", "text": ""}).encode(),
        json.dumps({"id": "blank", "text": "  \n\t "}).encode(),
        json.dumps({"id": "notext", "body": "text under the wrong key"}).encode(),
        json.dumps({"id": "nulltext", "text": None}).encode(),
        json.dumps({"id": "ok1", "text": "a duplicate id"}).encode(),
        json.dumps({"id": "huge", "text": "x" * (MAX_DOC_BYTES + 1)}).encode(),
        b"[1, 2, 3]",
        json.dumps({"id": "ok2", "text": "another good one"}).encode(),
    ]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    corpus = tmp_path / "c"
    assert run_cli("ingest", "bad", path, "--corpus", corpus) == 0
    out = capsys.readouterr().out
    assert "in = stored + rejected: 11 = 2 + 9" in out
    assert _reasons(corpus) == {"malformed_json": 2, "invalid_utf8": 1, "empty_text": 2, "missing_text": 2,
                                "duplicate_id": 1, "too_large": 1}
    kept = run_query(str(corpus), "SELECT id, text FROM documents ORDER BY id").fetchall()
    assert kept == [("ok1", "a good document"), ("ok2", "another good one")]
    raw = dict(run_query(str(corpus), "SELECT reason, raw FROM rejected WHERE reason <> 'too_large' "
                                      "AND id IS NULL").fetchall())
    assert raw["invalid_utf8"] == b'{"id": "bad-utf8", "text": "caf\xe9"}'  # the bytes are kept as they were
    dup = run_query(str(corpus), "SELECT raw FROM rejected WHERE reason = 'duplicate_id'").fetchall()[0][0]
    assert json.loads(dup)["text"] == "a duplicate id"  # the first occurrence wins, the later one is kept aside


def test_duplicates_across_files_keep_first_file(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text(json.dumps({"id": "x", "text": "from a"}) + "\n")
    (tmp_path / "in" / "b.jsonl").write_text(json.dumps({"id": "x", "text": "from b"}) + "\n")
    corpus = tmp_path / "c"
    assert run_cli("ingest", "s", tmp_path / "in", "--corpus", corpus, "--workers", "2") == 0
    assert run_query(str(corpus), "SELECT text FROM documents").fetchall() == [("from a",)]
    assert _reasons(corpus) == {"duplicate_id": 1}


def test_bad_csv_rows_and_parquet_nulls(tmp_path):
    csv_path = tmp_path / "t.csv"
    csv_path.write_bytes(b"id,text\n1,fine\n2,caf\xe9\n3,\n")
    pq.write_table(pa.table({"id": ["a", "b"], "text": ["good", None]}), tmp_path / "t.parquet")
    corpus = tmp_path / "c"
    assert run_cli("ingest", "csvsrc", csv_path, "--corpus", corpus) == 0
    assert run_cli("ingest", "pqsrc", tmp_path / "t.parquet", "--corpus", corpus) == 0
    got = run_query(str(corpus), "SELECT source, reason, count(*) FROM rejected GROUP BY ALL ORDER BY ALL")
    assert got.fetchall() == [("csvsrc", "empty_text", 1), ("csvsrc", "invalid_utf8", 1),
                              ("pqsrc", "missing_text", 1)]


def test_wrong_flags_and_paths_exit_2(tmp_path, capsys):
    assert run_cli("ingest", "s", tmp_path / "missing.jsonl", "--corpus", tmp_path / "c") == 2
    assert "input path does not exist" in capsys.readouterr().err
    assert run_cli("ingest", "s", tmp_path, "--corpus", tmp_path / "c", "--bogus") == 2
    err = capsys.readouterr().err
    assert "No such option: --bogus" in err and len(err.strip().splitlines()) == 1
    assert run_cli("ingest", "bad name!", tmp_path, "--corpus", tmp_path / "c") == 2
    assert "invalid source name" in capsys.readouterr().err
    assert run_cli("sql", "SELECT 1", "--corpus", tmp_path / "nothing") == 2
    assert "no corpus at" in capsys.readouterr().err
    assert run_cli("tag", "--corpus", tmp_path / "nothing", "--scorer", "bogus:x") == 2


def test_an_unknown_tokenizer_fails_fast_offline(tmp_path, capsys):
    import time

    (tmp_path / "d.jsonl").write_text(json.dumps({"id": "1", "text": "hello"}) + "\n")
    start = time.monotonic()
    code = run_cli("ingest", "s", tmp_path / "d.jsonl", "--corpus", tmp_path / "c", "--tokenizer",
                   "toxmix-test/no-such-tokenizer")
    assert code == 2 and time.monotonic() - start < 10  # the hub clients' retries took ~25 s here
    assert "cannot load tokenizer 'toxmix-test/no-such-tokenizer'" in capsys.readouterr().err
