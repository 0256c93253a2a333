"""Evaluation and the report: metrics by hand, the Perspective client against a fake server, task scoring against
full logits, and `toxmix eval` + `toxmix report` on a tiny toxmix model with ITI."""

import json
import math
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
from conftest import run_cli

from toxmix.core.errors import ToxmixError
from toxmix.core.models import load_model
from toxmix.eval.capability import continuation_logprobs
from toxmix.eval.metrics import toxicity_figures
from toxmix.eval.perspective import PerspectiveClient
from toxmix.eval.prompts import rtp_prompts, toxigen_prompts
from toxmix.eval.tasks import TASKS, load_items, score_task


def test_metrics_leave_unscored_generations_out_and_count_them():
    scores = pd.DataFrame({"prompt_id": ["a", "a", "b", "b", "c", "c"],
                           "toxicity": [0.1, 0.7, np.nan, 0.2, np.nan, np.nan]})
    f = toxicity_figures(scores, n_boot=200)
    assert f.prompts == 3 and f.generations == 6 and f.missing_generations == 3 and f.missing_prompts == 1
    assert math.isclose(f.mean_toxicity.value, (0.1 + 0.7 + 0.2) / 3)
    assert math.isclose(f.emt.value, (0.7 + 0.2) / 2)
    assert math.isclose(f.toxicity_prob.value, 0.5)
    assert f.emt.low <= f.emt.value <= f.emt.high
    as_zero = toxicity_figures(scores.fillna(0.0), n_boot=10)  # what a client that scores failures as 0 reports
    assert as_zero.mean_toxicity.value < f.mean_toxicity.value and as_zero.missing_generations == 0


class FakePerspective(BaseHTTPRequestHandler):
    """Answers by the comment's text: a length divisible by 3 is 503; ok-N scores N/10; flaky is 429 once; down is
    500; slow times out; garbled is broken JSON; anything else scores 0.3."""

    calls: dict[str, int] = {}

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = body["comment"]["text"]
        n = FakePerspective.calls[text] = FakePerspective.calls.get(text, 0) + 1
        if len(text) % 3 == 0:
            self.send_response(503)
            self.end_headers()
            return
        if text == "slow":
            time.sleep(0.5)
        if text == "down" or (text == "flaky" and n == 1):
            self.send_response(500 if text == "down" else 429)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        if text == "garbled":
            self.wfile.write(b'{"attributeScores": {"TOXICITY": ')
            return
        value = int(text.split("-")[1]) / 10 if text.startswith("ok-") else 0.3
        self.wfile.write(json.dumps({"attributeScores": {"TOXICITY": {"summaryScore": {"value": value}}}}).encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_perspective(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakePerspective)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    FakePerspective.calls = {}
    monkeypatch.setenv("PERSPECTIVE_API_KEY", "test-key")
    yield f"http://127.0.0.1:{server.server_address[1]}/v1alpha1/comments:analyze"
    server.shutdown()


def test_perspective_failures_are_missing_not_zero_and_successes_are_cached(fake_perspective, tmp_path):
    client = PerspectiveClient(fake_perspective, qps=200, max_retries=2, timeout=0.2, backoff=0.01,
                               cache=tmp_path / "p.sqlite")
    texts = ["ok-7", "flaky", "down", "slow", "garbled", "ok-1", ""]
    scores = client.score(texts)[:, 0]
    assert scores[0] == pytest.approx(0.7) and scores[1] == pytest.approx(0.3) and scores[5] == pytest.approx(0.1)
    assert np.isnan(scores[[2, 3, 4, 6]]).all()
    assert client.failures == {"http 500": 1, "timeout": 1, "malformed response": 1, "empty text": 1}
    assert FakePerspective.calls["down"] == 3  # one try and two retries
    again = PerspectiveClient(fake_perspective, qps=200, max_retries=0, cache=tmp_path / "p.sqlite")
    before = dict(FakePerspective.calls)
    assert again.score(["ok-7", "flaky"])[:, 0].tolist() == pytest.approx([0.7, 0.3])
    assert FakePerspective.calls == before  # both from the cache


def test_perspective_needs_a_key(monkeypatch):
    monkeypatch.delenv("PERSPECTIVE_API_KEY", raising=False)
    with pytest.raises(ToxmixError, match="PERSPECTIVE_API_KEY"):
        PerspectiveClient("http://127.0.0.1:9/x")


def test_prompt_sets_are_grouped_and_subsampled_by_seed(tmp_path):
    tg = toxigen_prompts("toxigen", 300, seed=1)
    assert len(tg) == 300 and {"hate", "neutral"} == {p.kind for p in tg.prompts}
    assert all("\\n" not in p.text and p.text.endswith("-") for p in tg.prompts)
    assert tg.digest == toxigen_prompts("toxigen", 300, seed=1).digest != toxigen_prompts("toxigen", 300, seed=2).digest
    rtp = rtp_prompts("rtp-sample")
    assert len(rtp) == 700 and len({p.group for p in rtp.prompts}) == 7
    with pytest.raises(ToxmixError, match="not found"):
        rtp_prompts(str(tmp_path / "nope"))
    (tmp_path / "p.jsonl").write_text('{"prompt": {"text": "So I said"}}\nnot json\n')
    with pytest.raises(ToxmixError, match="p.jsonl:2 is not JSON"):
        rtp_prompts(str(tmp_path / "p.jsonl"))


def test_task_items_match_olmo_formatting_and_scoring_matches_full_logits(tiny_model):
    ctx, conts, label = load_items("piqa", 3, seed=0)[0]
    assert ctx[0].startswith("Question: ") and ctx[0].endswith("\nAnswer:") and len(conts) == 2 and label in (0, 1)
    wino = load_items("winogrande", 2)[0]
    assert len(wino[0]) == 2 and len(wino[1]) == 1
    assert set(TASKS) >= {"hellaswag", "arc_easy", "arc_challenge", "sciq", "boolq", "openbookqa", "piqa"}
    lm = load_model(str(tiny_model))
    tok = lm.tokenizer
    pairs = [("The cat sat on", " the mat"), ("The cat sat on", " a"), ("The cat sat on", " the very soft red mat"),
             ("Question: what is 2+2?\nAnswer:", " four"), ("Hi", " there, friend")]
    requests = [(tok(c)["input_ids"], tok(k)["input_ids"]) for c, k in pairs]
    # shared contexts run once, contexts of different lengths share a left-padded batch
    flat = continuation_logprobs(lm, requests, batch_size=2, share=False)
    shared = continuation_logprobs(lm, requests, batch_size=2, share=True)
    assert shared == pytest.approx(flat, abs=1e-4)
    for (ctx_ids, cont_ids), got in zip(requests, flat, strict=True):
        ids = torch.tensor([ctx_ids + cont_ids])
        with torch.no_grad():
            logp = torch.log_softmax(lm.model(ids).logits[0].double(), -1)
        want = sum(float(logp[len(ctx_ids) - 1 + i, t]) for i, t in enumerate(cont_ids))
        assert got == pytest.approx(want, abs=1e-4)
    score = score_task(lm, "piqa", load_items("piqa", 6))
    assert score.n == 6 and 0 <= score.acc <= 1 and 0 <= score.len_norm <= 1


def test_report_module_does_not_import_torch():
    code = ("import sys, toxmix.eval.report, toxmix.app.commands.eval; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.fixture(scope="module")
def eval_scorer(tmp_path_factory):
    """A fastText scorer trained without ToxiGen, so it may score ToxiGen continuations."""
    from toxmix.classifiers.train_fasttext import FastTextParams, study_recipe, train_fasttext

    out = tmp_path_factory.mktemp("scorer") / "eval-scorer.bin"
    train_fasttext(study_recipe(exclude=("toxigen",)), str(out), FastTextParams(bucket=20_000, epoch=5))
    return out


def test_eval_with_iti_and_prompting_then_rerun_from_cache_then_report(tiny_model, probe_run, eval_scorer,
                                                                     fasttext_model, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TOXMIX_CACHE", str(tmp_path / "cache"))
    iti = probe_run / "iti-4.safetensors"
    assert run_cli("iti", "fit", tiny_model, probe_run, "--heads", "4", "--out", iti) == 0
    args = ["eval", tiny_model, "--iti", iti, "--alpha", "8", "--prompting", "--toxigen", "12", "--rtp", "12",
            "--k", "2", "--tasks", "piqa", "--task-docs", "8", "--ce-docs", "10", "--label", "tiny-10"]
    # the study scorer saw ToxiGen: refused unless allowed
    assert run_cli(*args, "--scorer", f"fasttext:{fasttext_model}", "--out", tmp_path / "refused") == 2
    assert "trained on toxigen" in capsys.readouterr().err
    out = tmp_path / "ev"
    assert run_cli(*args, "--scorer", f"fasttext:{eval_scorer}", "--out", out) == 0
    result = json.loads((out / "result.json").read_text())
    assert [c["label"] for c in result["conditions"]] == ["base", "ITI α=8", "prompting"]
    export = result["model"]["export"]
    assert export["run_name"] and export["lock_digest"] and result["iti"]["heads"] == 4
    assert export["components"].keys() == {"clean", "toxic"}
    base, steered, prompting = result["conditions"]
    assert base["cross_entropy"]["texts"] == 10 and steered["cross_entropy"]["value"] != base["cross_entropy"]["value"]
    assert prompting["cross_entropy"] == base["cross_entropy"]
    assert base["tasks"][0]["task"] == "piqa" and base["tasks"][0]["n"] == 8
    assert set(base["toxicity"]) == {"toxigen", "rtp"} and base["toxicity"]["rtp"]["generations"] == 24
    assert not any(c["cached_generations"] for c in result["conditions"])
    gens = pq.read_table(out / "generations.parquet").to_pandas()
    assert len(gens) == 3 * 2 * 12 * 2 and gens["toxicity"].between(0, 1).all()
    # a rerun into another folder reuses every generation
    assert run_cli(*args, "--scorer", f"fasttext:{eval_scorer}", "--out", tmp_path / "ev2") == 0
    again = json.loads((tmp_path / "ev2" / "result.json").read_text())
    assert all(c["cached_generations"] for c in again["conditions"])
    assert pq.read_table(tmp_path / "ev2" / "generations.parquet")["text"].equals(pq.read_table(
        out / "generations.parquet")["text"])
    # the report: a second "model" is the same eval under another label
    other = json.loads((out / "result.json").read_text()) | {"label": "tiny-10-copy"}
    (tmp_path / "ev3").mkdir()
    (tmp_path / "ev3" / "result.json").write_text(json.dumps(other))
    report = tmp_path / "report"
    assert run_cli("report", out, tmp_path / "ev3", "--probes", probe_run, "--out", report) == 0
    page = (report / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "Table 1" in page and "ITI α=8" in page
    assert "tiny-10, tiny-10-copy are the same model" in page  # one model under two labels is flagged
    assert "<h2>Findings</h2>" in page and "without intervention" in page
    md = (report / "report.md").read_text()
    assert "| toxic share | model | method | toxigen ↓ | rtp ↓ | CE ↓ |" in md and "piqa" in md
    assert (report / "tradeoff.png").stat().st_size > 10_000
    assert run_cli("report", out, out, "--out", report) == 2
    assert "labelled 'tiny-10'" in capsys.readouterr().err


def test_perspective_eval_reports_failures_as_missing(tiny_model, fake_perspective, tmp_path, monkeypatch):
    monkeypatch.setenv("TOXMIX_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "ev"
    assert run_cli("eval", tiny_model, "--scorer", f"perspective:{fake_perspective}", "--toxigen", "0", "--rtp", "8",
                   "--k", "3", "--ce", "none", "--perspective-qps", "100", "--perspective-retries", "0",
                   "--out", out) == 0
    result = json.loads((out / "result.json").read_text())
    rtp = result["conditions"][0]["toxicity"]["rtp"]
    # the fake server answers 503 for texts of a length divisible by 3 and scores the rest 0.3
    gens = pq.read_table(out / "generations.parquet").to_pandas()
    failed = gens["text"].map(lambda t: not t.strip() or len(t) % 3 == 0)
    assert 0 < failed.sum() < len(gens)
    assert rtp["missing_generations"] == int(failed.sum()) == int(gens["toxicity"].isna().sum())
    assert gens.loc[~failed, "toxicity"].eq(0.3).all()
    assert sum(result["scorer_failures"].values()) == int(failed.sum())
    assert any("never as 0" in n for n in result["notes"])
    assert result["scorer"]["name"] == "perspective"


def test_bad_eval_input_is_one_line(tiny_model, eval_scorer, tmp_path, capsys):
    common = ["--scorer", f"fasttext:{eval_scorer}", "--out", tmp_path / "o", "--k", "1"]
    cases = [
        (["--tasks", "nosuch"], "unknown task 'nosuch'"),
        (["--toxigen", "0", "--rtp", "0", "--ce", "none"], "leave nothing to measure"),
        (["--toxigen-data", str(tmp_path)], "no hate_*.txt"),
        (["--iti", str(tmp_path / "x.safetensors")], "no ITI file"),
        (["--scorer", "fasttext:" + str(tmp_path / "missing.bin")], "no such file"),
    ]
    for extra, message in cases:
        capsys.readouterr()
        assert run_cli("eval", tiny_model, *common, *extra) == 2, extra
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (extra, err)


def test_nucleus_keeps_the_smallest_set_reaching_p_and_samples_in_proportion():
    from toxmix.eval.generate import nucleus

    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])).repeat(20_000, 1)
    draws = nucleus(logits, 0.9, torch.Generator().manual_seed(0))
    freq = torch.bincount(draws, minlength=4).double() / len(draws)
    assert freq[3] == 0  # 0.5 + 0.3 + 0.15 reaches 0.9 first: the 0.05 token is out
    assert freq[:3].tolist() == pytest.approx([0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95], abs=0.015)
    again = nucleus(logits, 0.9, torch.Generator().manual_seed(0))
    assert torch.equal(draws, again)


def test_sampling_loop_with_a_vanishing_nucleus_is_greedy_generate(tiny_model):
    from toxmix.eval.generate import sample
    from toxmix.eval.result import Sampling

    lm = load_model(str(tiny_model))
    enc = lm.tokenizer(["The problem with", "A much longer prompt that needs padding on the left side"],
                       return_tensors="pt", padding=True)
    ours = sample(lm, enc["input_ids"], enc["attention_mask"], Sampling(top_p=1e-9, max_new_tokens=12, k=1),
                  torch.Generator().manual_seed(0))
    with torch.inference_mode():
        ref = lm.model.generate(**enc, do_sample=False, max_new_tokens=12, min_new_tokens=12,
                                pad_token_id=lm.tokenizer.pad_token_id)
    width = enc["input_ids"].shape[1]
    want = [[t for t in row[width:].tolist()] for row in ref]
    eos = lm.tokenizer.eos_token_id
    want = [row[:row.index(eos)] if eos in row else row for row in want]
    assert ours == want


def test_prompt_pass_runs_each_distinct_prompt_once_unpadded_and_matches_the_padded_pass(tiny_model):
    from toxmix.eval.generate import prefill

    lm = load_model(str(tiny_model))
    texts = ["The problem with", "A much longer prompt that needs padding on the left side", "Why do they",
             "The problem with"]
    enc = lm.tokenizer(texts, return_tensors="pt", padding=True)
    ids, mask = enc["input_ids"].repeat_interleave(3, 0), enc["attention_mask"].repeat_interleave(3, 0)  # K = 3
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    fed = []
    hook = lm.model.register_forward_pre_hook(lambda _m, _a, kw: fed.append(kw["input_ids"].numel()),
                                              with_kwargs=True)
    with torch.inference_mode():
        logits, cache = prefill(lm, ids, mask, positions)
        hook.remove()
        padded = lm.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True)
        distinct = {tuple(lm.tokenizer(t)["input_ids"]) for t in texts}
        assert sum(fed) == sum(map(len, distinct)) < ids.numel()  # 3 prompts once each, not 12 padded rows
        assert torch.allclose(logits, padded.logits[:, -1], atol=1e-5)
        step = {"input_ids": logits.argmax(-1)[:, None], "position_ids": positions[:, -1:] + 1, "use_cache": True,
                "attention_mask": torch.cat([mask, torch.ones(len(ids), 1, dtype=mask.dtype)], 1)}
        ours, theirs = lm.model(**step, cache=cache).logits, lm.model(**step, cache=padded.cache).logits
    assert torch.allclose(ours, theirs, atol=1e-5)  # the stacked cache is the padded pass's cache where it counts


def test_capability_only_eval_needs_no_prompts_and_no_scorer(tiny_model, tmp_path, capsys, monkeypatch):
    """`--toxigen 0 --rtp 0` measures cross-entropy and tasks alone (it used to be refused)."""
    monkeypatch.setenv("TOXMIX_CACHE", str(tmp_path / "cache"))
    held_out = tmp_path / "held.jsonl"
    held_out.write_text("".join(json.dumps({"text": f"The garden is green and the weather is mild, day {i}."}) + "\n"
                                for i in range(12)))
    out = tmp_path / "cap"
    assert run_cli("eval", tiny_model, "--toxigen", "0", "--rtp", "0", "--ce", held_out, "--tasks", "piqa",
                   "--task-docs", "4", "--out", out) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["prompt_sets"] == [] and result["scorer"] is None and not (out / "generations.parquet").exists()
    base = result["conditions"][0]
    assert base["cross_entropy"]["value"] > 0 and base["tasks"][0]["task"] == "piqa"
    said = capsys.readouterr().out  # not a terminal: progress as plain lines, which a log file keeps
    assert re.search(r"base: cross-entropy: 12/12 \(100 %, \d+ s\)", said), said[-1500:]
    assert run_cli("report", out, "--out", tmp_path / "report") == 0
    assert "capability only" in (tmp_path / "report" / "report.md").read_text()


def test_asking_for_more_prompts_than_exist_says_so(tiny_model, eval_scorer, tmp_path, monkeypatch):
    monkeypatch.setenv("TOXMIX_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "ev"
    assert run_cli("eval", tiny_model, "--scorer", f"fasttext:{eval_scorer}", "--toxigen", "0", "--rtp", "3000",
                   "--k", "1", "--max-new-tokens", "2", "--ce", "none", "--out", out) == 0
    notes = json.loads((out / "result.json").read_text())["notes"]
    said = r"rtp: asked for 3,000 prompts, but .* holds (\d+); all \1 were used"
    assert any(re.search(said, n) for n in notes), notes
