"""Manifests: validation, reproducible selection to budget, locks, the catalog, and OLMo token files."""

import hashlib
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import run_cli, write_manifest

from toxmix import Corpus
from toxmix.core.tokenizer import load_tokenizer
from toxmix.mixer.manifest.lockfile import Lock, read_lock
from toxmix.mixer.manifest.materialize import materialize
from toxmix.mixer.manifest.resolve import resolve
from toxmix.mixer.manifest.schema import load_manifest

CLEAN = {"name": "clean", "role": "clean", "source": "c4", "tokens": 200_000}
TOXIC = {"name": "toxic", "source": ["stormfront", "davidson"], "share": 0.2}


def _shard_tokens(lock: Lock) -> np.ndarray:
    mat = lock.materialized
    return np.concatenate([np.fromfile(f"{mat.dir}/{s.path}", dtype=mat.dtype) for s in mat.shards])


@pytest.mark.parametrize("components,extra,message", [
    ([{**CLEAN, "tokens": -5}], {}, "components.clean.tokens: Input should be greater than 0"),
    ([{**CLEAN, "tokens": 0}], {}, "components.clean.tokens"),
    ([CLEAN, {**TOXIC, "share": float("nan")}], {}, "components.toxic.share"),
    ([CLEAN, {**TOXIC, "share": 0.7}, {**TOXIC, "name": "t2", "share": 0.6}], {}, "shares add up to 1.3"),
    ([CLEAN, {**CLEAN}], {}, "duplicate component name 'clean'"),
    ([{**CLEAN, "colour": "red"}], {}, "components.clean.colour: unknown key"),
    ([CLEAN], {"priority": 1}, "priority: unknown key"),
    ([{**CLEAN, "source": "nope"}], {}, "unknown source 'nope'"),
    ([{**CLEAN, "where": "nonexistent > 1"}], {}, "unknown column 'nonexistent'"),
    ([{**CLEAN, "where": "fasttext_toxicity.nope > 1"}], {}, "unknown column fasttext_toxicity.nope"),
    ([{"name": "a", "source": "c4", "ratio_of": {"component": "b", "ratio": 1}, "role": "clean"},
      {"name": "b", "source": "c4", "ratio_of": {"component": "a", "ratio": 1}}], {}, "circular ratio_of"),
    ([{**CLEAN, "tokens": 10**9}], {}, "infeasible manifest: clean: requested 1,000,000,000 tokens, available"),
    ([CLEAN], {"tokenizer": "TOKENIZER_JSON"}, "does not match the corpus token counts"),
    ([{k: v for k, v in CLEAN.items() if k != "role"}, TOXIC], {},
     "components: mark the clean (reference) component with role: clean"),
    ([CLEAN, {**TOXIC, "role": "clean"}], {}, "components: one component can have role: clean, not 2 (clean, toxic)"),
    ([{**CLEAN, "role": "toxic"}], {}, "components.clean.role: Input should be 'clean'"),
])
def test_bad_manifests_refused_with_field(tmp_path, demo_corpus, capsys, components, extra, message):
    if extra.get("tokenizer") == "TOKENIZER_JSON":
        from tokenizers import Tokenizer, models, pre_tokenizers

        tok = Tokenizer(models.WordLevel({"[UNK]": 0, "<|endoftext|>": 1}, unk_token="[UNK]"))
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        tok.save(str(tmp_path / "other.json"))
        extra = {"tokenizer": str(tmp_path / "other.json")}
    path = write_manifest(tmp_path, demo_corpus, components, **extra)
    before = sorted(p.name for p in (demo_corpus / "mixtures").glob("*")) if (demo_corpus / "mixtures").exists() else []
    assert run_cli("manifest", "resolve", path) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert len(err.strip().splitlines()) == 1 or "infeasible" in err
    assert not path.with_name(f"{path.stem}.lock.json").exists()
    after = sorted(p.name for p in (demo_corpus / "mixtures").glob("*")) if (demo_corpus / "mixtures").exists() else []
    assert after == before
    assert not list((demo_corpus / "locks").glob(f"mixture-{path.stem}*"))  # a refusal leaves no pid file behind


def test_malformed_yaml(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\ncomponents: [\n  - oops")
    assert run_cli("manifest", "validate", path) == 2
    assert "malformed YAML at line" in capsys.readouterr().err


@pytest.mark.parametrize("where", [
    "read_csv('/etc/passwd') IS NOT NULL",
    "id IN (SELECT id FROM rejected)",
    "(SELECT count(*) FROM documents) > 0",
    "getenv('HOME') = 'x'",
    "length(read_text('/etc/passwd')) > 0",
    "catalog.mixtures.docs > 1",
    "(SUMMARIZE '.tmp/secret.csv') IS NULL",
    "row_number() OVER () > 1",
    "no_such_function(id) > 1",
])
def test_where_predicates_are_confined(tmp_path, demo_corpus, capsys, where):
    path = write_manifest(tmp_path, demo_corpus, [{**CLEAN, "where": where}])
    assert run_cli("manifest", "validate", path) == 2
    assert "components.clean.where" in capsys.readouterr().err


def test_selection_is_md5_keyed_and_hits_budget(tmp_path, demo_corpus):
    path = write_manifest(tmp_path, demo_corpus, [
        {**CLEAN, "where": "fasttext_toxicity.toxic < 0.5"}, {**TOXIC, "where": "fasttext_toxicity.toxic >= 0.5"}],
        seed=11)
    result = resolve(path)
    sel = pq.read_table(demo_corpus / result.lock.selection.path).to_pylist()
    keys = [hashlib.md5(f"11:{r['epoch']}:{r['source']}:{r['id']}".encode()).hexdigest() for r in sel]
    assert keys == sorted(keys) and [r["pos"] for r in sel] == list(range(len(sel)))  # in md5-key order
    for name, comp in result.lock.components.items():
        biggest = max(r["tokens"] for r in sel if r["component"] == name)
        assert comp.budget <= comp.tokens < comp.budget + biggest  # within one document
    assert result.lock.components["toxic"].budget == 50_000  # 200k clean is 80% of 250k
    scores = Corpus(demo_corpus).sql("SELECT min(d.fasttext_toxicity.toxic) FROM mixture_documents m "
                       f"JOIN docs d USING (source, id) WHERE m.mixture = '{result.lock.manifest.name}' "
                       "AND m.component = 'toxic'")
    assert scores.fetchall()[0][0] >= 0.5


def test_selection_ignores_file_order_and_partitioning(tmp_path, shared):
    import pyarrow as pa

    table = pq.read_table(shared / "data/c4/c4-validation-2k.parquet", columns=["text"])
    table = table.append_column("id", pa.array([f"doc{i}" for i in range(table.num_rows)]))
    one, three = tmp_path / "one", tmp_path / "three"
    one.mkdir(), three.mkdir()
    pq.write_table(table, one / "all.parquet")
    shuffled = table.take(np.random.default_rng(0).permutation(table.num_rows))
    for i, part in enumerate(np.array_split(np.arange(table.num_rows), 3)):
        pq.write_table(shuffled.take(part), three / f"z{2 - i}.parquet")
    digests = []
    for folder, workers in ((one, "1"), (three, "2")):
        corpus = folder / "corpus"
        assert run_cli("ingest", "c4", folder, "-c", corpus, "--workers", workers) == 0
        lock = resolve(write_manifest(folder, corpus, [{**CLEAN, "tokens": 300_000}])).lock
        digests.append(lock.selection.ids_sha256)
    assert digests[0] == digests[1]


def test_ratio_of_and_upsampling(tmp_path, demo_corpus):
    stormfront_tokens = Corpus(demo_corpus).sql("SELECT sum(n_tokens + 1) FROM documents WHERE source = "
                                  "'stormfront'").fetchall()[0][0]
    path = write_manifest(tmp_path, demo_corpus, [
        {"name": "forum", "source": "stormfront", "tokens": int(stormfront_tokens * 1.5), "max_epochs": 2},
        {"name": "web", "source": "c4", "ratio_of": {"component": "forum", "ratio": 0.5}, "role": "clean"}])
    lock = resolve(path).lock
    forum = lock.components["forum"]
    assert forum.epochs_used == 2 and forum.docs > forum.available_docs
    assert lock.components["web"].budget == round(int(stormfront_tokens * 1.5) * 0.5)
    repeats = Corpus(demo_corpus).sql("SELECT max(n) FROM (SELECT count(*) AS n FROM mixture_documents "
                        f"WHERE mixture = '{lock.manifest.name}' GROUP BY source, id)").fetchall()[0][0]
    assert repeats == 2


def test_sweep_materialize_shares_locks_and_workers(tmp_path, demo_corpus, shared):
    from toxmix.core.settings import REPO_ROOT

    template = tmp_path / "template.yaml"
    text = (REPO_ROOT / "manifests/demo/template.yaml").read_text()
    template.write_text(text.replace("../../corpus", str(demo_corpus)).replace("shard_tokens: 400000",
                                                                                "shard_tokens: 300000"))
    out = tmp_path / "family"
    assert run_cli("manifest", "sweep", template, "--ratios", "0,0.05,0.10,0.15,0.20,0.25", "--out", out) == 0
    paths = sorted(out.glob("demo-*.yaml"))
    assert [p.stem for p in paths] == ["demo-00", "demo-05", "demo-10", "demo-15", "demo-20", "demo-25"]
    digests = {}
    for path, ratio in zip(paths, (0, 0.05, 0.10, 0.15, 0.20, 0.25), strict=True):
        assert run_cli("manifest", "materialize", path) == 0
        lock = read_lock(load_manifest(path).lock_path)
        tokens = _shard_tokens(lock)
        toxic = sum(c.tokens for n, c in lock.components.items() if n == "toxic")
        assert len(tokens) == lock.selection.tokens == lock.materialized.tokens
        assert abs(100 * toxic / len(tokens) - 100 * ratio) < 0.5
        assert lock.components["clean"].tokens >= 900_000
        digests[path.stem] = (lock.lock_digest, lock.materialized.digest)
    # a second run, and another worker count, give the same locks and the same shards
    shutil.rmtree(read_lock(load_manifest(paths[3]).lock_path).materialized.dir)
    for path in paths[2:4]:
        assert run_cli("manifest", "resolve", path) == 0
        assert run_cli("manifest", "materialize", path, "--workers", "2") == 0
        lock = read_lock(load_manifest(path).lock_path)
        assert (lock.lock_digest, lock.materialized.digest) == digests[path.stem]
        assert len(lock.materialized.shards) >= 3
    mix = Corpus(demo_corpus).sql("SELECT mixture, component, tokens FROM mixtures WHERE mixture = 'demo-10' "
                    "ORDER BY component").fetchall()
    assert [m[1] for m in mix] == ["clean", "toxic"]
    # the README's query: scores are FLOAT, so it computes in DOUBLE to print 0.1, not 0.10000000149011612
    hist = Corpus(demo_corpus).sql("SELECT floor(d.fasttext_toxicity.toxic::DOUBLE * 10) / 10 AS bucket, count(*) "
                     "FROM mixture_documents m JOIN docs d USING (source, id) WHERE m.mixture = 'demo-10' "
                     "GROUP BY ALL ORDER BY 1").fetchall()
    assert sum(n for _, n in hist) == read_lock(load_manifest(paths[2]).lock_path).selection.docs
    assert all(repr(b) == f"{b:.1f}" for b, _ in hist), hist


def test_token_files_decode_and_olmo_core_reads_them(tmp_path, demo_corpus):
    from olmo_core.data.numpy_dataset import NumpyFSLDataset

    path = write_manifest(tmp_path, demo_corpus, [CLEAN, {**TOXIC, "label_mask": False}],
                          output={"shard_tokens": 100_000})
    lock = materialize(path, progress=False)
    mat = lock.materialized
    assert mat.dtype == "uint16" and lock.tokenizer.eos_id == 50279
    tokens = _shard_tokens(lock)
    first = pq.read_table(f"{mat.dir}/part-00000.index.parquet").to_pylist()[0]
    text = Corpus(demo_corpus).sql(f"SELECT text FROM documents WHERE source = '{first['source']}' "
                     f"AND id = '{first['id']}'").fetchall()[0][0]
    tok = load_tokenizer()
    assert tokens[first["start"]:first["end"] - 1].tolist() == tok.encode(text, add_special_tokens=False).ids
    assert tokens[first["end"] - 1] == 50279
    paths = [f"{mat.dir}/{s.path}" for s in mat.shards]
    masks = [f"{mat.dir}/{s.label_mask.path}" for s in mat.shards]
    ds = NumpyFSLDataset(*paths, sequence_length=512, pad_token_id=1, eos_token_id=50279, vocab_size=50304,
                         dtype=np.uint16, label_mask_paths=masks)
    ds.prepare()
    first_file = np.fromfile(paths[0], dtype=np.uint16)
    assert ds[0]["input_ids"].tolist() == first_file[:512].tolist()
    assert len(ds) == sum(len(np.fromfile(p, dtype=np.uint16)) // 512 for p in paths)
    mask = np.concatenate([np.fromfile(m, dtype=np.bool_) for m in masks])
    offset = 0
    for s, m in zip(mat.shards, masks, strict=True):
        shard_mask = np.fromfile(m, dtype=np.bool_)
        for r in pq.read_table(f"{mat.dir}/{s.path.replace('.npy', '.index.parquet')}").to_pylist():
            assert shard_mask[r["start"]:r["end"]].all() == (r["component"] == "clean")
        offset += len(shard_mask)
    assert offset == len(mask) and (~mask).sum() == lock.components["toxic"].tokens


def test_meda_and_inst_prefix_toxicity(tmp_path, demo_corpus):
    for kind, prefix in (("meda", "<|toxicity:"), ("inst", "The following text is")):
        path = write_manifest(tmp_path, demo_corpus, [CLEAN, TOXIC], name=f"t-{kind}",
                              transforms=[{"kind": kind, "attribute": "fasttext_toxicity.toxic"}])
        lock = materialize(path, progress=False)
        mat = lock.materialized
        row = pq.read_table(f"{mat.dir}/part-00000.index.parquet").to_pylist()[0]
        tokens = np.fromfile(f"{mat.dir}/part-00000.npy", dtype=np.uint16)
        text = load_tokenizer().decode(tokens[row["start"]:row["end"] - 1].tolist())
        assert text.startswith(prefix), text[:60]


def test_changed_corpus_refuses_materialize(tmp_path, demo_corpus, capsys):
    corpus = tmp_path / "corpus"
    shutil.copytree(demo_corpus, corpus)
    path = write_manifest(tmp_path, corpus, [CLEAN])
    assert run_cli("manifest", "resolve", path) == 0
    shard = corpus / "documents/c4/00000.parquet"
    table = pq.read_table(shard)
    pq.write_table(table.slice(1), shard)
    assert run_cli("manifest", "materialize", path) == 2
    assert "documents/c4/00000.parquet changed" in capsys.readouterr().err


def test_paths_with_quotes_resolve_and_materialize(tmp_path):
    folder = tmp_path / "it's here"
    folder.mkdir()
    data = folder / "d.jsonl"
    data.write_text("".join(f'{{"id": "{i}", "text": "document number {i} says hello"}}\n' for i in range(50)))
    corpus = folder / "corpus"
    assert run_cli("ingest", "web", data, "--corpus", corpus) == 0
    path = write_manifest(folder, corpus, [{"name": "all", "source": "web", "tokens": 200}], name="quoted-path")
    lock = materialize(path, progress=False)
    assert lock.materialized.tokens >= 200
    assert Corpus(corpus).sql("SELECT count(*) FROM mixtures WHERE mixture = 'quoted-path'").fetchall()[0][0] == 1


@pytest.mark.parametrize("name", ["o'quote", "x" * 250, "../up", "-dash", "a b"])
def test_mixture_names_are_plain_and_short(tmp_path, demo_corpus, capsys, name):
    """A name becomes file names (lock, selection, tokens): one line, nothing written (250 characters used to end
    in an OSError traceback)."""
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({"name": name, "corpus": str(demo_corpus), "seed": 1,
                                    "components": [{"name": "clean", "source": "c4", "tokens": 1000}]}))
    assert run_cli("manifest", "resolve", path) == 2
    err = capsys.readouterr().err
    assert "name: use a letter, then letters, digits" in err and len(err.strip().splitlines()) == 1, err
    assert not list(tmp_path.glob("*.lock.json")) and not list((demo_corpus / "locks").glob("mixture-*x*"))


def test_a_corrupt_or_foreign_shard_is_rewritten_never_blessed(tmp_path, demo_corpus):
    path = write_manifest(tmp_path, demo_corpus, [{"name": "clean", "source": "c4", "tokens": 20_000}],
                          name="verified", output={"dir": str(tmp_path / "tok"), "shard_tokens": 8_000})
    first = materialize(path, progress=False)
    shard = tmp_path / "tok" / "part-00000.npy"
    original = shard.read_bytes()
    with open(shard, "r+b") as f:  # 4 bytes zeroed in place
        f.seek(100)
        f.write(b"\0\0\0\0")
    again = materialize(path, progress=False)
    assert shard.read_bytes() == original and again.materialized == first.materialized
    with open(shard, "r+b") as f:
        f.truncate(1000)
    assert materialize(path, progress=False).materialized == first.materialized
    assert shard.read_bytes() == original


def test_gathered_texts_are_verified_and_gathered_afresh_when_damaged(tmp_path, demo_corpus, monkeypatch, capsys):
    import toxmix.mixer.manifest.materialize as mat

    path = write_manifest(tmp_path, demo_corpus, [{"name": "clean", "source": "c4", "tokens": 30_000}],
                          name="gathering", output={"dir": str(tmp_path / "tok"), "shard_tokens": 8_000})
    reference = materialize(path, progress=False).materialized
    gathered = demo_corpus / "gathered" / "gathering"
    assert len(reference.shards) == 4 and not gathered.exists()  # gone once every shard is verified
    for shard in reference.shards:
        (tmp_path / "tok" / shard.path).unlink()
    original = mat.write_shard

    def dies_at_shard_2(job):
        if job.index == 2:
            raise RuntimeError("killed")
        return original(job)

    monkeypatch.setattr(mat, "write_shard", dies_at_shard_2)
    with pytest.raises(RuntimeError):
        materialize(path, progress=False)
    monkeypatch.setattr(mat, "write_shard", original)
    for part in (gathered / "shard=3").glob("*.parquet"):  # damage what the next run would reuse
        part.write_bytes(part.read_bytes()[:200])
    assert run_cli("manifest", "materialize", path) == 2
    assert "gathered texts of shard 3" in capsys.readouterr().err
    assert materialize(path, progress=False).materialized == reference  # gathered afresh, same bytes


def test_an_edited_manifest_is_resolved_again_before_its_lock_is_reused(tmp_path, demo_corpus):
    import yaml

    path = write_manifest(tmp_path, demo_corpus, [{"name": "clean", "source": "c4", "tokens": 20_000}],
                          name="edited", output={"dir": str(tmp_path / "tok")})
    small = materialize(path, progress=False)
    doc = yaml.safe_load(path.read_text())
    doc["components"][0]["tokens"] = 60_000
    path.write_text(yaml.safe_dump(doc))
    big = materialize(path, progress=False)
    assert small.selection.tokens < 30_000 and big.selection.tokens >= 60_000
    assert big.materialized.tokens == big.selection.tokens
    assert read_lock(load_manifest(path).lock_path).lock_digest == big.lock_digest != small.lock_digest


@pytest.mark.parametrize("component,message", [
    ({"name": "clean", "source": "c4", "tokens": True}, "components.clean.tokens: Input should be a valid integer"),
    ({"name": "clean", "source": "c4", "tokens": 1000, "max_epochs": 1e9},
     "components.clean.max_epochs: Input should be less than or equal to 1000"),
])
def test_schema_refuses_booleans_and_runaway_epochs(tmp_path, demo_corpus, capsys, component, message):
    path = write_manifest(tmp_path, demo_corpus, [component])
    assert run_cli("manifest", "validate", path) == 2
    assert message in capsys.readouterr().err


def test_duplicate_yaml_keys_and_infeasible_budgets_fail_validation(tmp_path, demo_corpus, capsys):
    path = write_manifest(tmp_path, demo_corpus, [{"name": "clean", "source": "c4", "tokens": 10**9}])
    assert run_cli("manifest", "validate", path) == 2
    assert "infeasible manifest: clean: requested 1,000,000,000 tokens" in capsys.readouterr().err
    path.write_text(path.read_text() + "seed: 8\n")
    assert run_cli("manifest", "validate", path) == 2
    err = capsys.readouterr().err
    assert "duplicate key 'seed'" in err and len(err.strip().splitlines()) == 1
    assert not path.with_name(f"{path.stem}.lock.json").exists()


def test_two_manifests_may_not_share_a_name_or_a_token_folder(tmp_path, demo_corpus, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    first = write_manifest(a, demo_corpus, [{**CLEAN, "tokens": 20_000}], name="clash")
    second = write_manifest(b, demo_corpus, [{**CLEAN, "tokens": 30_000}], name="clash")
    assert run_cli("manifest", "materialize", first) == 0
    selection = (demo_corpus / "mixtures" / "clash.parquet").read_bytes()
    for verb in ("validate", "resolve", "materialize"):
        assert run_cli("manifest", verb, second) == 2
        err = capsys.readouterr().err
        assert f"mixture name 'clash' in {demo_corpus.resolve()} belongs to another manifest, {first}" in err
    assert (demo_corpus / "mixtures" / "clash.parquet").read_bytes() == selection  # untouched
    assert not second.with_name("clash.lock.json").exists()
    # another name, but the same explicit token folder
    shared_out = {"output": {"dir": str(a / "tokens")}}
    third = write_manifest(a, demo_corpus, [{**CLEAN, "tokens": 20_000}], name="owner3", **shared_out)
    fourth = write_manifest(b, demo_corpus, [{**CLEAN, "tokens": 20_000}], name="owner4", **shared_out)
    assert run_cli("manifest", "materialize", third) == 0
    assert run_cli("manifest", "resolve", fourth) == 2
    assert f"token folder {a / 'tokens'} belongs to another manifest, {third}" in capsys.readouterr().err


@pytest.mark.parametrize("output,message", [
    ({"dir": "../../somewhere"}, "leaves both the corpus and the manifest's folder"),
    ({"dir": "/proc/self"}, "is a system folder"),
    ({"dir": "FILE"}, "is a file"),
    ({"dir": "STRANGERS"}, "already holds files toxmix did not write (notes.txt, ...)"),
    ({"shard_tokens": 1e20}, "output.shard_tokens: Input should be a valid integer"),
    ({"shard_tokens": 10**20}, "output.shard_tokens: Input should be less than or equal to 1000000000000000"),
])
def test_bad_outputs_are_refused_before_anything_is_written(tmp_path, demo_corpus, capsys, output, message):
    folder = tmp_path / "deep" / "er"
    folder.mkdir(parents=True)
    (folder / "FILE").write_text("not a folder")
    (folder / "STRANGERS").mkdir()
    (folder / "STRANGERS" / "notes.txt").write_text("mine")
    path = write_manifest(folder, demo_corpus, [{**CLEAN, "tokens": 20_000}], output=output)
    for verb in ("validate", "materialize"):
        assert run_cli("manifest", verb, path) == 2
        assert message in capsys.readouterr().err
    assert not path.with_name(f"{path.stem}.lock.json").exists()
    assert not (demo_corpus / "mixtures" / f"{path.stem}.parquet").exists()
    assert not (tmp_path / "somewhere").exists()


def test_a_damaged_selection_file_is_selected_again_not_trusted(tmp_path, demo_corpus):
    path = write_manifest(tmp_path, demo_corpus, [{**CLEAN, "tokens": 30_000}])
    first = materialize(path, progress=False)
    selection = demo_corpus / first.selection.path
    table = pq.read_table(selection)
    pq.write_table(table.slice(0, table.num_rows // 2), selection)  # truncated, as by a crash or a bad copy
    again = materialize(path, progress=False)
    assert pq.read_table(selection).equals(table)
    assert again.selection.ids_sha256 == first.selection.ids_sha256
    assert again.materialized.digest == first.materialized.digest
    selection.unlink()
    assert materialize(path, progress=False).materialized.digest == first.materialized.digest


def _synthetic_corpus(root, n_docs: int):
    """A corpus of n_docs empty documents with random token counts (one source, 4 shards), as resolve sees one."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from toxmix.core.files import write_json
    from toxmix.core.tokenizer import tokenizer_info

    rng = np.random.default_rng(0)
    tok = tokenizer_info()
    for shard, rows in enumerate(np.array_split(np.arange(n_docs), 4)):
        ids = pc.binary_join_element_wise("web", pc.cast(pa.array(rows), pa.string()), "-")
        path = root / "documents" / "web" / f"{shard:05d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        n = len(rows)
        pq.write_table(pa.table({"id": ids, "source": pa.array(["web"] * n), "text": [""] * n,
                                 "n_bytes": rng.integers(1, 9, n), "n_tokens": rng.integers(20, 2000, n)}), path)
    write_json(root / "meta" / "sources" / "web.json",
               {"source": "web", "documents": n_docs, "tokenizer": {"name": tok.name, "sha256": tok.sha256}})
    return root


def test_resolve_spills_to_the_corpus_within_its_memory_limit(tmp_path, monkeypatch, capsys):
    import toxmix.mixer.manifest.resolve as resolve_module

    corpus = _synthetic_corpus(tmp_path / "corpus", 1_000_000)
    path = write_manifest(tmp_path, corpus, [{"name": "all", "source": "web", "tokens": 300_000_000}])
    reference = resolve(path).lock.selection.ids_sha256
    spilled = []
    streaming = resolve_module.write_selection

    def watching(batches, target):  # runs while DuckDB's sort streams out: its spill files are there now
        spilled.extend(p.name for p in (corpus / "spill").rglob("*") if p.is_file())
        return streaming(batches, target)

    monkeypatch.setattr(resolve_module, "write_selection", watching)
    assert run_cli("manifest", "resolve", path, "--memory-limit", "200MB") == 0
    assert spilled, "nothing spilled under a 200MB limit"
    assert read_lock(path.with_name(f"{path.stem}.lock.json")).selection.ids_sha256 == reference
    assert not any((corpus / "spill").iterdir())  # each run's spill folder goes with it
    capsys.readouterr()
    assert run_cli("manifest", "resolve", path, "--memory-limit", "200MB", "--spill-limit", "1MB") == 2
    err = capsys.readouterr().err
    assert "resolve ran out of its memory limit 200MB and spill limit 1MB" in err and len(err.splitlines()) == 1
    assert run_cli("manifest", "resolve", path, "--memory-limit", "lots") == 2
    assert "bad memory or spill limit" in capsys.readouterr().err


def test_the_lock_names_the_clean_component_and_held_out_text_comes_from_it(tmp_path, demo_corpus):
    """The reference component is explicit: role: clean in the manifest, the role in the lock, held-out text from
    its documents the selection did not pick (a one-component manifest's only component is clean)."""
    from toxmix.mixer.manifest.heldout import held_out_clean

    path = write_manifest(tmp_path, demo_corpus, [{**TOXIC, "share": 0.3}, {**CLEAN, "tokens": 20_000}], name="roles")
    lock = resolve(path).lock
    assert lock.clean_component == "clean" and lock.components["toxic"].role is None
    texts, where = held_out_clean(path, 5, seed=1)
    selected = set(Corpus(demo_corpus).sql("SELECT text FROM mixture_documents JOIN documents USING (source, id) "
                                                "WHERE mixture = 'roles'").fetchall())
    assert len(texts) == 5 and not {(t,) for t in texts} & selected and "clean component 'clean'" in where
    c4_texts = {r[0] for r in Corpus(demo_corpus).sql("SELECT text FROM documents WHERE source = 'c4'").fetchall()}
    assert set(texts) <= c4_texts
    (tmp_path / "one").mkdir()
    single = write_manifest(tmp_path / "one", demo_corpus, [{"name": "web", "source": "c4", "tokens": 20_000}],
                            name="single")
    assert resolve(single).lock.clean_component == "web"
