"""Bad records never crash a run: each is counted by reason and kept, and in = stored + rejected."""

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import run_cli

from toxmix import Corpus
from toxmix.mixer.corpus.records import MAX_DOC_BYTES


def _reasons(corpus) -> dict[str, int]:
    return dict(Corpus(corpus).sql("SELECT reason, count(*) FROM rejected GROUP BY 1").fetchall())


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
    kept = Corpus(corpus).sql("SELECT id, text FROM documents ORDER BY id").fetchall()
    assert kept == [("ok1", "a good document"), ("ok2", "another good one")]
    raw = dict(Corpus(corpus).sql("SELECT reason, raw FROM rejected WHERE reason <> 'too_large' "
                                      "AND id IS NULL").fetchall())
    assert raw["invalid_utf8"] == b'{"id": "bad-utf8", "text": "caf\xe9"}'  # the bytes are kept as they were
    dup = Corpus(corpus).sql("SELECT row, raw FROM rejected WHERE reason = 'duplicate_id'").fetchall()
    assert dup == [(7, lines[7])]  # the first occurrence wins; the later one keeps its row and its exact bytes


def test_duplicates_across_files_keep_first_file(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text(json.dumps({"id": "x", "text": "from a"}) + "\n")
    (tmp_path / "in" / "b.jsonl").write_text(json.dumps({"id": "x", "text": "from b"}) + "\n")
    corpus = tmp_path / "c"
    assert run_cli("ingest", "s", tmp_path / "in", "--corpus", corpus, "--workers", "2") == 0
    assert Corpus(corpus).sql("SELECT text FROM documents").fetchall() == [("from a",)]
    assert _reasons(corpus) == {"duplicate_id": 1}


def test_bad_csv_rows_and_parquet_nulls(tmp_path):
    csv_path = tmp_path / "t.csv"
    csv_path.write_bytes(b"id,text\n1,fine\n2,caf\xe9\n3,\n")
    pq.write_table(pa.table({"id": ["a", "b"], "text": ["good", None]}), tmp_path / "t.parquet")
    corpus = tmp_path / "c"
    assert run_cli("ingest", "csvsrc", csv_path, "--corpus", corpus) == 0
    assert run_cli("ingest", "pqsrc", tmp_path / "t.parquet", "--corpus", corpus) == 0
    got = Corpus(corpus).sql("SELECT source, reason, count(*) FROM rejected GROUP BY ALL ORDER BY ALL")
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


def _damaged_inputs(folder: Path) -> dict[str, bytes]:
    good = "".join(json.dumps({"id": str(i), "text": f"document {i} " * 30}) + "\n" for i in range(3000)).encode()
    gz = gzip.compress(good)
    table = pa.table({"id": ["a", "b"], "text": ["one", "two"]})
    pq.write_table(table, folder / "whole.parquet")
    parquet = (folder / "whole.parquet").read_bytes()
    (folder / "whole.parquet").unlink()
    return {
        "truncated.jsonl.gz": gz[: len(gz) // 2],
        "plain-text-named.jsonl.gz": good[:2000].rsplit(b"\n", 1)[0] + b"\n",
        "garbage.jsonl.zst": b"not zstd at all" * 50,
        "truncated.parquet": parquet[: len(parquet) // 2],
        "garbage.warc": b"garbage" * 100,
        "garbage.warc.gz": b"garbage, not gzip" * 20,
    }


@pytest.mark.parametrize("name", ["truncated.jsonl.gz", "plain-text-named.jsonl.gz", "garbage.jsonl.zst",
                                  "truncated.parquet", "garbage.warc", "garbage.warc.gz"])
def test_a_damaged_file_keeps_what_was_readable_and_rejects_the_rest(tmp_path, capsys, name):
    path = tmp_path / name
    path.write_bytes(_damaged_inputs(tmp_path)[name])
    assert run_cli("ingest", "s", path, "--corpus", tmp_path / "c") == 0
    out = capsys.readouterr().out
    stored, unreadable = Corpus(tmp_path / "c").sql("SELECT (SELECT count(*) FROM documents), "
                                   "(SELECT count(*) FROM rejected WHERE reason = 'unreadable')").fetchall()[0]
    assert unreadable == 1 and f"= {stored:,} + 1" in out
    if name == "truncated.jsonl.gz":
        assert stored > 1000  # half the file decompresses; all of that half is kept
        row, raw = Corpus(tmp_path / "c").sql("SELECT row, raw FROM rejected").fetchall()[0]
        assert row == stored and raw.startswith(b"EOFError")


def test_a_folder_with_one_good_and_one_truncated_gzip_keeps_the_good_one(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl.gz").write_bytes(gzip.compress(b'{"id": "1", "text": "good"}\n'))
    (folder / "b.jsonl.gz").write_bytes(_damaged_inputs(tmp_path)["truncated.jsonl.gz"])
    corpus = tmp_path / "c"
    assert run_cli("ingest", "s", folder, "--corpus", corpus, "--workers", "2") == 0
    assert Corpus(corpus).sql("SELECT count(*) FROM documents WHERE id = '1'").fetchall() == [(1,)]
    assert not list((corpus / "staging").rglob("*"))  # no .tmp-* files left behind


def test_an_unterminated_csv_quote_is_rejected_not_merged(tmp_path, capsys):
    path = tmp_path / "q.csv"
    path.write_bytes(b'id,text\n1,"an open quote\n2,fine\n3,also fine\n4,"closed, properly"\n5,"stray" x\n')
    corpus = tmp_path / "c"
    assert run_cli("ingest", "s", path, "--corpus", corpus) == 0
    assert "in = stored + rejected: 5 = 3 + 2" in capsys.readouterr().out
    assert Corpus(corpus).sql("SELECT id, text FROM documents ORDER BY id").fetchall() == [
        ("2", "fine"), ("3", "also fine"), ("4", "closed, properly")]
    assert Corpus(corpus).sql("SELECT reason, row, raw FROM rejected ORDER BY row").fetchall() == [
        ("malformed_csv", 0, b'1,"an open quote\n'), ("malformed_csv", 4, b'5,"stray" x\n')]


def test_a_missing_hf_folder_is_one_line(tmp_path, capsys):
    import time

    start = time.monotonic()
    assert run_cli("ingest", "s", tmp_path / "no" / "such", "--format", "hf", "--corpus", tmp_path / "c") == 2
    assert "no such dataset folder" in capsys.readouterr().err
    assert run_cli("ingest", "s", "toxmix-test-no-such-dataset", "--format", "hf", "--corpus", tmp_path / "c",
                   ) == 2
    assert "not in the hub cache" in capsys.readouterr().err and time.monotonic() - start < 10
