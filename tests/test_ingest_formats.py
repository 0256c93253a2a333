"""Every input format reaches the store with ids, token counts and kept fields."""

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard
from conftest import run_cli

from toxmix import Corpus
from toxmix.core.tokenizer import load_tokenizer

RECORDS = [{"id": f"d{i}", "text": f"Document number {i} says hello.", "label": "x" if i % 2 else "y",
            "score": i / 10} for i in range(5)]


def _jsonl_bytes(records) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def _ingest_and_read(tmp_path, path, *extra):
    corpus = tmp_path / "corpus"
    assert run_cli("ingest", "src", path, "--corpus", corpus, *extra) == 0
    return corpus, Corpus(corpus).sql("SELECT * FROM documents ORDER BY id").arrow().to_pylist()


def test_jsonl_plain_gz_zst(tmp_path):
    data = _jsonl_bytes(RECORDS)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_bytes(data[: len(data) // 2 + 1].rsplit(b"\n", 1)[0] + b"\n")
    (tmp_path / "in" / "b.jsonl.gz").write_bytes(gzip.compress(_jsonl_bytes(RECORDS[2:4])))
    (tmp_path / "in" / "c.jsonl.zst").write_bytes(zstandard.compress(_jsonl_bytes(RECORDS[4:])))
    corpus, rows = _ingest_and_read(tmp_path, tmp_path / "in", "-k", "label", "-k", "score")
    assert [r["id"] for r in rows] == [f"d{i}" for i in range(5)]
    assert rows[3]["label"] == "x" and rows[3]["score"] == 0.3
    tok = load_tokenizer()
    assert all(r["n_tokens"] == len(tok.encode(r["text"], add_special_tokens=False).ids) for r in rows)
    assert all(r["n_bytes"] == len(r["text"].encode()) for r in rows)
    assert len(list((corpus / "documents" / "src").glob("*.parquet"))) == 3  # one shard per input file
    fields = Corpus(corpus).sql("SELECT count(*), sum(score) FROM attributes_fields").fetchall()[0]
    assert fields == (5, 1.0)


def test_parquet_without_id_gets_content_hash(tmp_path, shared):
    corpus, rows = _ingest_and_read(tmp_path, shared / "data" / "c4" / "c4-validation-2k.parquet", "-k", "url")
    assert len(rows) == 2000
    assert all(len(r["id"]) == 32 for r in rows)  # xxh3-128 hex of the text
    assert rows[0]["url"].startswith("http")


def test_csv_with_text_field(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('id,tweet,class\n1,"hello, world",2\n2,"second ""quoted"" tweet",0\n')
    _, rows = _ingest_and_read(tmp_path, path, "--text-field", "tweet", "-k", "class")
    assert [(r["id"], r["text"], r["class"]) for r in rows] == [
        ("1", "hello, world", "2"), ("2", 'second "quoted" tweet', "0")]


def test_warc_extracts_html(tmp_path, shared):
    corpus, rows = _ingest_and_read(tmp_path, shared / "data" / "dolma-fixtures" / "warc")
    assert len(rows) > 20
    assert all(r["id"].startswith("<urn:uuid:") for r in rows)
    assert not any("<html" in r["text"].lower() for r in rows)
    total = Corpus(corpus).sql("SELECT (SELECT count(*) FROM documents) + (SELECT count(*) FROM rejected)")
    assert total.fetchall()[0][0] == 37  # every response record is stored or rejected


def test_hf_dataset_from_disk_and_from_data_dir(tmp_path):
    from datasets import Dataset

    saved = tmp_path / "saved"
    Dataset.from_list(RECORDS).save_to_disk(str(saved))
    _, rows = _ingest_and_read(tmp_path, saved, "--format", "hf", "-k", "label")
    assert [r["id"] for r in rows] == [f"d{i}" for i in range(5)]

    data_dir = tmp_path / "hub_like"
    data_dir.mkdir()
    pq.write_table(pa.Table.from_pylist(RECORDS), data_dir / "train.parquet")
    corpus = tmp_path / "corpus2"
    assert run_cli("ingest", "hf2", data_dir, "--format", "hf", "--corpus", corpus) == 0
    assert Corpus(corpus).sql("SELECT count(*) FROM documents").fetchall()[0][0] == 5


def test_multiple_sources_and_kept_fields_become_attributes(tmp_path, shared):
    corpus = tmp_path / "c"
    assert run_cli("ingest", "stormfront", shared / "data/stormfront/stormfront.jsonl.gz", "-c", corpus,
                   "-k", "label") == 0
    assert run_cli("ingest", "davidson", shared / "data/davidson/labeled_data.csv", "-c", corpus,
                   "--text-field", "tweet", "--id-field", "", "-k", "class") == 0
    got = dict(Corpus(corpus).sql("SELECT source, count(*) FROM documents GROUP BY 1").fetchall())
    rejected = dict(Corpus(corpus).sql("SELECT source, count(*) FROM rejected GROUP BY 1").fetchall())
    assert got["stormfront"] == 10944
    assert got["davidson"] + rejected.get("davidson", 0) == 24783
    hate = Corpus(corpus).sql("SELECT count(*) FROM docs WHERE fields.label = 'hate'").fetchall()[0][0]
    assert hate > 1000


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_record(tmp_path):
    (tmp_path / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + _jsonl_bytes(RECORDS[:2]))
    _, rows = _ingest_and_read(tmp_path, tmp_path / "bom.jsonl")
    assert [r["id"] for r in rows] == ["d0", "d1"]  # the first line was malformed_json before
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbfid,text\nc0,first row\nc1,second row\n")
    corpus = tmp_path / "csv-corpus"
    assert run_cli("ingest", "csv", tmp_path / "bom.csv", "--corpus", corpus) == 0
    rows = Corpus(corpus).sql("SELECT id, text FROM documents ORDER BY id").fetchall()
    assert rows == [("c0", "first row"), ("c1", "second row")]


def test_files_of_no_known_format_in_a_folder_are_listed_as_skipped(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.jsonl").write_bytes(_jsonl_bytes(RECORDS[:2]))
    (folder / "data.txt").write_bytes(_jsonl_bytes(RECORDS[2:]))  # valid JSONL under a name ingest cannot read
    (folder / "data.xml").write_text("<doc/>")
    capsys.readouterr()
    _ingest_and_read(tmp_path, folder)
    said = capsys.readouterr().out
    assert "skipped 2 file(s) of no known format" in said and "data.txt" in said and "data.xml" in said


def test_datatrove_logs_stay_in_the_log_folder_unless_verbose(tmp_path, capfd, fasttext_model):
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"id": str(i), "text": f"document {i}"}) + "\n" for i in range(50)))
    corpus = tmp_path / "c"
    for workers in ("1", "2"):
        assert run_cli("ingest", f"s{workers}", data, "--corpus", corpus, "--workers", workers) == 0
        err = capfd.readouterr().err
        assert " | INFO " not in err and "SUCCESS" not in err and "Stats" not in err
        assert "Launching pipeline" in (corpus / "logs/ingest" / f"s{workers}" / "logs/task_00000.log").read_text()
    assert run_cli("tag", "--corpus", corpus, "--scorer", f"fasttext:{fasttext_model}") == 0
    assert " | INFO " not in capfd.readouterr().err
    assert run_cli("ingest", "s3", data, "--corpus", corpus, "--verbose") == 0
    assert " | INFO " in capfd.readouterr().err


def test_an_fsspec_url_ingests_the_same_bytes_as_a_path(tmp_path):
    import fsspec
    from conftest import tree_digest

    data = "".join(json.dumps({"id": str(i), "text": f"document {i} " * (1 + i % 9)}) + "\n" for i in range(300))
    local = tmp_path / "in"
    (local / "sub").mkdir(parents=True)
    (local / "sub" / "a.jsonl.gz").write_bytes(gzip.compress(data.encode(), mtime=0))
    (local / "b.jsonl").write_text(data.replace('"id": "', '"id": "b') + "not json\n")
    memory = fsspec.filesystem("memory")
    for name in ("sub/a.jsonl.gz", "b.jsonl"):
        memory.pipe(f"/toxmix-test/{name}", (local / name).read_bytes())
    digests = {}
    for kind, given in (("path", local), ("file-url", f"file://{local}"), ("memory-url", "memory://toxmix-test")):
        corpus = tmp_path / kind
        assert run_cli("ingest", "s", given, "--corpus", corpus) == 0
        digests[kind] = {k: v for k, v in tree_digest(corpus).items() if k.startswith(("documents", "rejected"))}
    assert len(digests["path"]) == 4 and digests["path"] == digests["file-url"] == digests["memory-url"]
    assert Corpus(tmp_path / "memory-url").sql("SELECT file, reason FROM rejected").fetchall() == [
        ("b.jsonl", "malformed_json")]
    assert run_cli("ingest", "t", "memory://toxmix-test/nothing-here", "--corpus", tmp_path / "x") == 2
