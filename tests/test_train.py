"""Training from a manifest with OLMo-core: presets, the objective, resume, export and bad input."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import run_cli, write_manifest

from toxmix.core.errors import ToxmixError
from toxmix.train.export import load_trained_model
from toxmix.train.launch import launch
from toxmix.train.olmo import olmo_core_configs
from toxmix.train.plan import plan_run
from toxmix.train.presets import PRESETS, get_preset, model_config, padded_vocab_size
from toxmix.train.record import MetricRow, RunRecord, checkpoint_steps, read_metrics


@pytest.fixture(scope="module")
def mixture(tmp_path_factory, demo_corpus):
    """A 10 % toxic mixture of the demo corpus, about 330k tokens, materialized."""
    folder = tmp_path_factory.mktemp("mix")
    path = write_manifest(folder, demo_corpus, [
        {"name": "clean", "role": "clean", "source": "c4", "tokens": 300_000},
        {"name": "toxic", "source": ["stormfront", "davidson"], "share": 0.1}], name="tox10")
    assert run_cli("manifest", "materialize", path) == 0
    return path


def _metrics(run: RunRecord) -> list[MetricRow]:
    return read_metrics(run.metrics_file)


def test_olmo1_preset_is_olmo_1b_exactly():
    p = get_preset("olmo1-1b")
    assert padded_vocab_size(50280) == 50304
    assert model_config(p, 50304).num_params == 1_176_764_416
    assert (p.d_model, p.n_layers, p.n_heads, p.hidden_size, p.rope_theta, p.sequence_length) == (
        2048, 16, 16, 8192, 10_000, 2048)
    assert (p.lr, p.betas, p.weight_decay, p.max_grad_norm, p.warmup_steps, p.final_lr_fraction) == (
        4e-4, (0.9, 0.95), 0.1, 1.0, 2000, 0.1)
    assert model_config(get_preset("tiny"), 50304).num_params < 1_000_000
    assert 8e6 < model_config(get_preset("small"), 50304).num_params < 12e6
    assert set(PRESETS) == {"tiny", "small", "olmo1-1b", "olmo2-1b"}


def test_dry_run_and_unknown_preset(mixture, capsys):
    assert run_cli("train", mixture, "--preset", "olmo1-1b", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "1,176,764,416 parameters" in out and '"rope"' in out and '"theta": 10000' in out
    assert run_cli("train", mixture, "--preset", "olmo7b") == 2
    err = capsys.readouterr().err
    assert "unknown preset 'olmo7b'" in err and "tiny" in err and "olmo1-1b" in err


def test_loss_is_next_token_cross_entropy(tmp_path, mixture):
    """The trainer's loss at step k+1 equals next-token CE of the step-k weights on batch k+1."""
    run = plan_run(mixture, "tiny", seed=5, steps=21, checkpoint_interval=20, out=str(tmp_path / "run"),
                   progress=False)
    run.save()
    assert launch(run) == 0
    reported = {r.step: r.loss for r in _metrics(run)}
    cfgs = olmo_core_configs(run)
    dataset = cfgs.dataset.build()
    dataset.prepare()
    loader = cfgs.data_loader.build(dataset, dp_process_group=None)
    loader.reshuffle(epoch=1)
    batch = [b for _, b in zip(range(21), iter(loader), strict=False)][-1]
    ids = batch["input_ids"]
    model = load_trained_model(run, step=20)
    with torch.no_grad():
        logits = model(ids).float()
    vocab = logits.size(-1)
    next_token = F.cross_entropy(logits[:, :-1].reshape(-1, vocab), ids[:, 1:].reshape(-1)).item()
    two_ahead = F.cross_entropy(logits[:, :-2].reshape(-1, vocab), ids[:, 2:].reshape(-1)).item()
    assert reported[21] == pytest.approx(next_token, abs=2e-5)
    assert abs(reported[21] - two_ahead) > 1e-3  # 50x the tolerance: the check tells the two apart
    assert reported[21] < reported[1] - 1.0  # and the loss fell


def test_killed_run_resumes_with_the_same_loss_curve(tmp_path, mixture, capfd):
    full = plan_run(mixture, "tiny", seed=2, steps=24, checkpoint_interval=8, out=str(tmp_path / "full"),
                    progress=False)
    full.save()
    assert launch(full) == 0
    killed = plan_run(mixture, "tiny", seed=2, steps=24, checkpoint_interval=8, out=str(tmp_path / "killed"),
                      progress=False)
    killed.save()
    env = dict(os.environ, OMP_NUM_THREADS="2")
    proc = subprocess.Popen([sys.executable, "-m", "toxmix.train.entry", killed.run_dir], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while not (killed.checkpoints / "step16").is_dir() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed.checkpoints / "step24").exists()
    capfd.readouterr()
    assert launch(killed) == 0
    assert "resumed from the step 16 checkpoint" in capfd.readouterr().out
    a, b = _metrics(full), _metrics(killed)
    assert [r.step for r in b] == list(range(1, 25))
    np.testing.assert_allclose([r.loss for r in b], [r.loss for r in a], rtol=0, atol=1e-5)


def test_export_loads_in_transformers_with_equal_logits(tmp_path, mixture, capsys):
    out = tmp_path / "run"
    assert run_cli("train", mixture, "--preset", "tiny", "--steps", "12", "--checkpoint-interval", "6",
                   "--out", out, "--seed", "4") == 0
    text = capsys.readouterr().out
    assert "done: loss" in text
    assert run_cli("export", out, "--hf", tmp_path / "hf") == 0
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hf = AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    tok = AutoTokenizer.from_pretrained(tmp_path / "hf")
    assert type(hf).__name__ == "OlmoForCausalLM" and tok.eos_token_id == 50279
    ids = torch.tensor([tok("The weather today is mild and the garden is green.")["input_ids"]])
    ours = load_trained_model(RunRecord.load(out))
    with torch.no_grad():
        torch.testing.assert_close(hf(ids).logits, ours(ids), rtol=1e-4, atol=1e-4)
    rows = __import__("duckdb").connect(str(tmp_path / "registry.duckdb")).execute(
        "SELECT status, steps FROM runs").fetchall()
    assert rows == [("done", 12)]


def test_changed_token_file_refuses_to_train(tmp_path, demo_corpus, capsys):
    path = write_manifest(tmp_path, demo_corpus, [{"name": "clean", "source": "c4", "tokens": 100_000}],
                          name="changed")
    assert run_cli("manifest", "materialize", path) == 0
    lock = json.loads(path.with_name("changed.lock.json").read_text())
    shard = f"{lock['materialized']['dir']}/{lock['materialized']['shards'][0]['path']}"
    data = np.fromfile(shard, dtype=np.uint16)
    data[5] += 1
    data.tofile(shard)
    with pytest.raises(ToxmixError, match="part-00000.npy changed since it was materialized"):
        plan_run(path, "tiny")


def test_too_small_for_one_batch(tmp_path, demo_corpus, capsys):
    path = write_manifest(tmp_path, demo_corpus, [{"name": "clean", "source": "c4", "tokens": 5_000}], name="wee")
    assert run_cli("train", path, "--preset", "small") == 2
    assert "fewer than one batch" in capsys.readouterr().err


def test_multi_node_writes_slurm_script(tmp_path, mixture, capsys):
    out = tmp_path / "multi"
    assert run_cli("train", mixture, "--preset", "small", "--nnodes", "2", "--nproc", "1", "--out", out) == 0
    script = (out / "slurm.sbatch").read_text()
    assert "#SBATCH --nodes=2" in script and "#SBATCH --exclusive" in script and "toxmix.train.slurm_job" in script
    assert "MASTER_PORT=$((20000 + SLURM_JOB_ID % 20000))" in script
    assert '--node-rank="$SLURM_NODEID"' in (out / "node.sh").read_text()
    assert "--node-rank=<NODE_RANK>" in capsys.readouterr().out
    # planned on this GPU-less machine, a multi-node run is still a GPU job with HSDP
    assert RunRecord.load(out).device == "cuda" and RunRecord.load(out).dp == "hsdp"
    assert run_cli("train", mixture, "--preset", "small", "--submit", "--out", tmp_path / "one") == 2
    assert "--submit set up the Slurm job of a multi-node run; add --nnodes N" in capsys.readouterr().err
    assert run_cli("train", mixture, "--nnodes", "2", "--follow", "--out", tmp_path / "two") == 2
    assert "--follow stays with a submitted job: add --submit" in capsys.readouterr().err


def _wait_for_step(run_dir: Path, step: int, after: float, timeout: float = 300) -> int:
    """Until metrics.jsonl, written after `after`, reaches `step`; the step it reached."""
    deadline = time.monotonic() + timeout
    path = run_dir / "metrics.jsonl"
    while time.monotonic() < deadline:
        if path.is_file() and path.stat().st_mtime > after:
            rows = read_metrics(path)
            if rows and rows[-1].step >= step:
                return rows[-1].step
        time.sleep(0.1)
    raise TimeoutError(f"{path} did not reach step {step}")


def test_the_slurm_job_holds_the_run_folder_so_a_second_submission_trains_nothing(tmp_path, mixture):
    out = tmp_path / "twice"
    assert run_cli("train", mixture, "--preset", "tiny", "--nnodes", "2", "--nproc", "1", "--device", "cpu",
                   "--steps", "4", "--out", out) == 0
    from toxmix.train.launch import run_writer

    with run_writer(out):  # the first job's batch step, still running
        second = subprocess.run([sys.executable, "-m", "toxmix.train.slurm_job", str(out)], capture_output=True,
                                text=True, timeout=120, env={**os.environ, "SLURM_JOB_ID": "7"})
    assert second.returncode == 1 and len(second.stderr.strip().splitlines()) == 1, second.stderr
    assert "being written by another toxmix process" in second.stderr and "submitted twice" in second.stderr
    assert not (out / "checkpoints").exists()


def test_following_a_job_tells_a_job_slurm_forgot_from_a_controller_it_cannot_reach(tmp_path, slurm, monkeypatch,
                                                                                   capsys):
    """`--follow` judges a run by its files only when Slurm says the job is gone ("Invalid job id"); a controller
    that cannot be reached (down, restarting) is asked again until it answers, or following gives up saying so."""
    import socket
    import threading

    from toxmix.train.launch import follow, slurm_state

    assert slurm_state("987654") is None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    dead = tmp_path / "unreachable.conf"
    dead.write_text(re.sub(r"SlurmctldPort=\d+", f"SlurmctldPort={closed}", slurm.conf.read_text())
                    + "MessageTimeout=1\nTCPTimeout=1\n")
    run = RunRecord.model_construct(run_dir=str(tmp_path), name="followed")
    monkeypatch.setenv("SLURM_CONF", str(dead))
    with pytest.raises(ToxmixError, match="cannot tell Slurm job 1's state"):
        slurm_state("1")
    with pytest.raises(ToxmixError, match=r"for 0.5 s\); the job may still be running: see `squeue -j 1`"):
        follow(run, "1", poll_s=0.1, patience_s=0.5)
    job = slurm.run("sbatch", "--parsable", "-p", "cpu", "-o", "/dev/null", "--wrap", "sleep 2").strip()
    capsys.readouterr()
    back = threading.Timer(1.5, os.environ.__setitem__, ("SLURM_CONF", slurm.env["SLURM_CONF"]))
    back.start()
    assert follow(run, job, poll_s=0.2, patience_s=60) == 0  # the controller came back; the job completed
    assert capsys.readouterr().err.count("asking again for up to 60 s") == 1
    assert slurm.job(job)["JobState"] == "COMPLETED"


def test_two_nodes_on_slurm_train_as_one_process_and_resume_after_a_warning_and_a_requeue(tmp_path, mixture, slurm,
                                                                                       monkeypatch):
    """`sbatch RUN/slurm.sbatch` on a real two-node Slurm: each node's torchrun agent gets its own rank (every node
    used to get --node-rank=0) and the loss curve is one process's; Slurm's time-limit warning (USR1 to the batch
    step) checkpoints, stops and requeues the job, and an operator's `scontrol requeue` resumes from the newest
    checkpoint, neither losing nor repeating a step."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("SLURM_CONF", slurm.env["SLURM_CONF"])
    out = tmp_path / "two"
    assert run_cli("train", mixture, "--preset", "tiny", "--nnodes", "2", "--nproc", "1", "--device", "cpu",
                   "--steps", "40", "--checkpoint-interval", "5", "--seed", "6", "--out", out,
                   "--cpus-per-task", "1", "--slurm-partition", "cpu", "--slurm-time", "30", "--submit") == 0
    script = (out / "slurm.sbatch").read_text()
    assert "#SBATCH --requeue" in script and "#SBATCH --signal=B:USR1@120" in script
    job = (out / "slurm-job").read_text().strip()
    assert slurm.job(job)["JobName"] == RunRecord.load(out).name
    start = time.time()
    _wait_for_step(out, 3, start)
    slurm.run("scancel", "--batch", "--signal=USR1", job)  # what Slurm sends 120 s before --time runs out
    deadline = time.monotonic() + 120
    while slurm.job(job).get("Restarts") != "1":
        assert time.monotonic() < deadline, slurm.job(job)
        time.sleep(0.2)
    stopped = RunRecord.load(out)
    first_stop = checkpoint_steps(stopped.checkpoints)[-1][0]
    assert 3 <= first_stop < 40
    reached = _wait_for_step(out, first_stop + 4, time.time())
    slurm.run("scontrol", "requeue", job)  # an operator's requeue, or a preemption: killed, then started again
    slurm.wait(600)
    info = slurm.job(job)
    assert (info["JobState"], info["Restarts"]) == ("COMPLETED", "2"), info
    log = (out / f"slurm-{job}.out").read_text()
    assert log.count("node 0 of 2 (") == 3 and log.count("node 1 of 2 (") == 3, log[-3000:]
    assert f"checkpointed at step {first_stop}; requeueing" in log
    resumed = [int(m) for m in re.findall(r"resumed from the step (\d+) checkpoint", log)]
    # the requeue's SIGTERM checkpoints too (OLMo-core cancels the run) when the ranks agree before Slurm kills them;
    # otherwise the newest interval checkpoint is where it resumes
    assert resumed[0] == first_stop, resumed
    assert first_stop < resumed[1] < 40 and (resumed[1] >= reached or resumed[1] % 5 == 0), (resumed, reached)
    one = plan_run(mixture, "tiny", seed=6, steps=40, checkpoint_interval=40, out=str(tmp_path / "one"),
                   progress=False)
    one.save()
    assert launch(one) == 0
    two = RunRecord.load(out)
    assert (two.nnodes, two.dp, two.device) == (2, "ddp", "cpu")
    assert [r.step for r in _metrics(two)] == list(range(1, 41))
    np.testing.assert_allclose([r.loss for r in _metrics(two)], [r.loss for r in _metrics(one)], rtol=0, atol=1e-4)


def test_train_sweep_registers_every_run(tmp_path, demo_corpus, capsys):
    family = tmp_path / "family"
    family.mkdir()
    for share in (0.05, 0.1):
        write_manifest(family, demo_corpus, [
            {"name": "clean", "role": "clean", "source": "c4", "tokens": 60_000},
            {"name": "toxic", "source": ["stormfront", "davidson"], "share": share}],
            name=f"f{int(share * 100):02d}")
    runs = tmp_path / "runs"
    # one seed: every manifest x seed pairing is planned by the dry-run sweep test below, with two seeds
    assert run_cli("train", "sweep", family, "--preset", "tiny", "--seeds", "2", "--steps", "3",
                   "--out", runs) == 0
    import duckdb

    rows = duckdb.connect(str(runs / "registry.duckdb")).execute(
        "SELECT run, seed, status, steps, lock_digest IS NOT NULL FROM runs ORDER BY run").fetchall()
    assert rows == [("f05-tiny-s2", 2, "done", 3, True), ("f10-tiny-s2", 2, "done", 3, True)]
    assert "f10-tiny-s2" in capsys.readouterr().out


def test_two_processes_through_torchrun_match_one(tmp_path, mixture):
    """torchrun with 2 CPU processes (gloo, DDP) splits the same global batch: the same loss curve as 1 process."""
    runs = []
    for nproc in (1, 2):
        run = plan_run(mixture, "tiny", seed=8, steps=5, nproc=nproc, checkpoint_interval=5,
                       out=str(tmp_path / f"p{nproc}"), progress=False)
        run.save()
        assert launch(run) == 0
        runs.append(run)
    one, two = (_metrics(r) for r in runs)
    assert [r.step for r in two] == [1, 2, 3, 4, 5]  # only rank 0 writes metrics
    np.testing.assert_allclose([r.loss for r in two], [r.loss for r in one], rtol=0, atol=1e-4)
    assert (runs[1].checkpoints / "step5" / "model_and_optim").is_dir()


def test_a_train_py_in_the_working_directory_does_not_shadow_the_package(tmp_path, mixture, monkeypatch, capfd):
    """Spawned interpreters run in safe-path mode: the user's train.py is never imported as toxmix's `train`."""
    (tmp_path / "train.py").write_text("raise SystemExit('the working directory train.py was imported')\n")
    monkeypatch.chdir(tmp_path)
    assert run_cli("train", mixture, "--preset", "tiny", "--steps", "2", "--checkpoint-interval", "2",
                   "--out", tmp_path / "run") == 0
    assert [r.step for r in read_metrics(tmp_path / "run" / "metrics.jsonl")] == [1, 2]
    said = capfd.readouterr()
    assert "OMP_NUM_THREADS" not in said.out + said.err  # OLMo-core's "already set to '8'" on a 2-core machine
    assert "step 2/2: loss" in said.out  # not a terminal: plain progress lines instead of a bar
    # the registry is keyed by run folder: the same run name in another folder is another row
    from toxmix.train.record import RunRecord
    from toxmix.train.registry import list_runs, record_run

    run = RunRecord.load(tmp_path / "run")
    record_run(tmp_path, run.model_copy(update={"run_dir": str(tmp_path / "run-again")}), "done")
    _, rows = list_runs(tmp_path)
    assert [r[0] for r in rows] == [run.name, run.name] and len({r[-2] for r in rows}) == 2


def test_a_killed_train_takes_its_trainer_along_and_a_run_folder_has_one_trainer(tmp_path, mixture, capsys):
    from test_writers import _alive, _children, _wait_until

    run_dir = tmp_path / "run"
    args = ["train", str(mixture), "--preset", "tiny", "--steps", "400", "--checkpoint-interval", "1000",
            "--out", str(run_dir)]
    proc = subprocess.Popen([sys.executable, "-m", "toxmix.app.cli", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=tmp_path,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    _wait_until(lambda: (run_dir / "metrics.jsonl").is_file() or proc.poll() is not None, 300)
    assert proc.poll() is None, "the run ended before it could be killed"
    trainers = _children(proc.pid)
    assert trainers
    assert run_cli(*args) == 2  # a second trainer on the same folder
    err = capsys.readouterr().err
    assert f"run folder {run_dir} is being written by another toxmix process (pid {proc.pid})" in err
    os.kill(proc.pid, signal.SIGKILL)  # only the command; its trainer must follow
    proc.wait()
    _wait_until(lambda: not any(_alive(p) for p in trainers), 30)


def test_a_sweep_dry_run_trains_nothing(tmp_path, demo_corpus, capsys):
    """`train sweep --dry-run` plans every run and trains none (it used to train them all)."""
    family = tmp_path / "family"
    family.mkdir()
    for share in (0.05, 0.1):
        write_manifest(family, demo_corpus, [
            {"name": "clean", "role": "clean", "source": "c4", "tokens": 60_000},
            {"name": "toxic", "source": ["stormfront", "davidson"], "share": share}], name=f"d{int(share * 100):02d}")
    runs = tmp_path / "runs"
    assert run_cli("train", "sweep", family, "--preset", "tiny", "--seeds", "1,2", "--dry-run", "--out", runs) == 0
    said = capsys.readouterr().out
    assert "dry run: 4 runs planned, none trained" in said and "d10-tiny-s2" in said
    assert not runs.exists() or not any(runs.rglob("*"))


def test_export_refuses_an_untrained_checkpoint_and_says_which_step(tmp_path, mixture, capsys):
    """An interrupted run whose only checkpoint is step 0 is not exported as if trained (it used to be)."""
    out = tmp_path / "run"
    assert run_cli("train", mixture, "--preset", "tiny", "--steps", "4", "--checkpoint-interval", "4",
                   "--out", out) == 0
    capsys.readouterr()
    assert run_cli("export", out, "--hf", tmp_path / "hf") == 0
    assert "exported step 4 of 4 planned" in capsys.readouterr().out
    import shutil

    shutil.rmtree(out / "checkpoints" / "step4")  # as if killed before its first checkpoint
    assert (out / "checkpoints" / "step0" / "model_and_optim").is_dir()
    assert run_cli("export", out, "--hf", tmp_path / "untrained") == 2
    assert "has no trained checkpoint yet, only step 0" in capsys.readouterr().err
    assert not (tmp_path / "untrained").exists() and not list(tmp_path.glob(".untrained*"))
    assert run_cli("export", out, "--hf", tmp_path / "untrained", "--step", "0") == 0
    said = capsys.readouterr().out
    assert "exported step 0 of 4 planned" in said and "has not finished" in said
    assert json.loads((tmp_path / "untrained" / "toxmix_export.json").read_text())["step"] == 0


def test_olmo1_preset_optimizes_and_initializes_as_olmo_1b(mixture):
    """OLMo-1B's own settings (allenai/OLMo configs/official/OLMo-1B.yaml): AdamW eps 1e-5, warm-up from 0.1 x lr,
    and "mitchell" init: truncated at 3 std, std = 1/sqrt(d_in), output projections / sqrt(2 (layer + 1))."""
    import math

    from toxmix.train.init import mitchell_init

    cfgs = olmo_core_configs(plan_run(mixture, "olmo1-1b", prepare=False))
    assert cfgs.train_module.optim.eps == 1e-5
    assert cfgs.train_module.scheduler.warmup_min_lr == pytest.approx(0.1 * 4e-4)
    assert get_preset("tiny").init == "normal" and get_preset("tiny").eps == 1e-8
    model = model_config(get_preset("olmo1-1b"), 50_304).build(init_device="cpu")
    assert mitchell_init(model, 2048, seed=0) == 1 + 16 * 7
    trunc = math.sqrt(1 - 2 * 3 * math.exp(-4.5) / math.sqrt(2 * math.pi) / math.erf(3 / math.sqrt(2)))  # 0.9866
    params = dict(model.named_parameters())
    expected = {"embeddings.weight": 1 / math.sqrt(2048)}
    for i in (0, 7, 15):
        depth = math.sqrt(2 * (i + 1))
        expected |= {f"blocks.{i}.attention.w_q.weight": 1 / math.sqrt(2048),
                     f"blocks.{i}.attention.w_v.weight": 1 / math.sqrt(2048),
                     f"blocks.{i}.attention.w_out.weight": 1 / math.sqrt(2048) / depth,
                     f"blocks.{i}.feed_forward.w1.weight": 1 / math.sqrt(2048),
                     f"blocks.{i}.feed_forward.w2.weight": 1 / math.sqrt(8192) / depth}
    for name, std in expected.items():
        w = params[name].detach()
        assert w.std().item() == pytest.approx(std * trunc, rel=0.01), name
        assert w.abs().max().item() <= 3 * std * (1 + 1e-6), name
        assert abs(w.mean().item()) < std / 100, name


def test_a_run_with_mitchell_init_starts_from_it(tmp_path, mixture):
    """The trainer draws the mitchell init before its step-0 checkpoint (tiny model, its preset switched)."""
    import math

    run = plan_run(mixture, "tiny", seed=3, steps=2, checkpoint_interval=2, out=str(tmp_path / "m"), progress=False)
    run = run.model_copy(update={"preset": run.preset.model_copy(update={"init": "mitchell"})})
    run.save()
    assert launch(run) == 0
    start = load_trained_model(RunRecord.load(run.run_dir), step=0)
    embedding = start.embeddings.weight.detach()
    assert embedding.std().item() == pytest.approx(0.9866 / math.sqrt(16), rel=0.01)  # OLMo-core's own: 0.02
    assert embedding.abs().max().item() <= 3 / math.sqrt(16) + 1e-6


def test_keep_every_keeps_those_checkpoints_for_good(tmp_path, mixture, capsys):
    """OLMo-core keeps only the newest 3 checkpoints; a study of training dynamics asks for every Nth, kept."""
    out = tmp_path / "kept"
    assert run_cli("train", mixture, "--preset", "tiny", "--steps", "12", "--checkpoint-interval", "2",
                   "--keep-every", "4", "--out", out) == 0
    steps = sorted(int(p.name.removeprefix("step")) for p in (out / "checkpoints").glob("step*"))
    assert {4, 8, 12} <= set(steps) and not {2, 6} & set(steps), steps  # the temporary ones go
    capsys.readouterr()
    assert run_cli("train", mixture, "--preset", "olmo1-1b", "--nnodes", "2", "--nproc", "8", "--keep-every", "1000",
                   "--dry-run", "--out", tmp_path / "plan") == 0
    assert "every 1000 steps' kept for good" in capsys.readouterr().out


def test_the_gpu_check_script_passes_its_checks_in_smoke_mode_and_leaves_nothing(tmp_path):
    """benchmarks/gpu_check_olmo1b.py --smoke: the script a GPU session runs, end to end on this CPU (tiny preset):
    mixture from the shared data, toxmix train stopped half-way and resumed, export, generation; exit 0."""
    script = Path(__file__).parents[1] / "benchmarks" / "gpu_check_olmo1b.py"
    env = {**os.environ, "TMPDIR": str(tmp_path), "OMP_NUM_THREADS": "2"}
    done = subprocess.run([sys.executable, str(script), "--smoke", "--steps", "20"], env=env, capture_output=True,
                          text=True, timeout=600)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith(("PASS", "FAIL"))]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert [ln.split()[:2] for ln in lines] == [["PASS", c] for c in
                                                 ("loss", "throughput", "resume", "export", "generate")], lines
    assert "5/5 checks passed" in done.stdout
    assert not list(tmp_path.glob("gpu-check-*"))  # its work folder is removed (torch keeps its inductor cache)


def test_compile_flash_attention_and_batch_reach_olmo_core(tmp_path, mixture, capsys):
    """--compile, --flash-attn and --batch-sequences are in the plan and in the OLMo-core configs it builds; on a
    CPU, where OLMo-core would skip compiling silently, they are refused."""
    out = tmp_path / "gpu"
    assert run_cli("train", mixture, "--preset", "olmo1-1b", "--nnodes", "2", "--nproc", "8", "--compile",
                   "--flash-attn", "--batch-sequences", "32", "--out", out) == 0
    run = RunRecord.load(out)
    cfgs = olmo_core_configs(run)
    assert cfgs.train_module.compile_model and run.preset.global_batch_sequences == 32
    assert cfgs.model.block.sequence_mixer.backend == "flash_2"
    assert cfgs.train_module.rank_microbatch_size == 2 * 2048  # 32 sequences over 16 GPUs: 2 each, one pass
    assert olmo_core_configs(plan_run(mixture, "tiny", out=str(tmp_path / "t"))).model.block.sequence_mixer.backend \
        == "torch"
    capsys.readouterr()
    assert run_cli("train", mixture, "--preset", "tiny", "--compile", "--device", "cpu", "--out", tmp_path / "c") == 2
    assert "--compile is for GPU runs" in capsys.readouterr().err
