"""The engine in the venv is our portable x86-64 build (packaging/engine.sh), not one made for
the build machine's CPU: it says so itself, and it really runs on an older CPU.

The second test runs the bundled model under `qemu-x86_64 -cpu Haswell` (Debian's qemu-user):
every instruction newer than Haswell's (AVX-512, AMX, AVX-VNNI) is illegal there, so a native
build of a newer machine dies with SIGILL, while ours must decode and agree with the same
decode run natively. Emulation is slow (about a minute), so the decode is kept to 3 tokens.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.localserver.portability import (
    compiled_features,
    engine_system_info,
    portability_problems,
)

ROOT = Path(__file__).resolve().parents[2]
X86 = platform.machine().lower() in ("x86_64", "amd64")

_DECODE = """
import json
from app.bundled_model import bundled_model_path
from app.localserver.engine import Engine
engine = Engine(bundled_model_path(), n_ctx_per_seq=128, n_seq=1, threads=1, gpu_layers=0,
                n_batch=64)
prompt = engine.tokenize("The capital of France is")
engine.decode(0, prompt, 0)
out = engine.generate(0, len(prompt), engine.last_logits(), 3)
print(json.dumps({"tokens": out.tokens, "text": out.text}))
"""


def test_the_check_tells_a_native_build_from_ours() -> None:
    # System info of a build for an AVX-512/AMX machine, as llama.cpp prints it.
    native = ("CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX_VNNI = 1 | AVX2 = 1 | F16C = 1 | "
              "FMA = 1 | BMI2 = 1 | AVX512 = 1 | AVX512_VBMI = 1 | AVX512_VNNI = 1 | "
              "AVX512_BF16 = 1 | AMX_INT8 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 |")
    problems = portability_problems(compiled_features(native), machine="x86_64")
    assert any("AVX512" in p for p in problems) and any("AMX_INT8" in p for p in problems)
    ours = "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 |"
    assert portability_problems(compiled_features(ours), machine="x86_64") == []
    assert portability_problems(frozenset({"AVX"}), machine="x86_64") == [
        "built without AVX2", "built without F16C", "built without FMA"]


@pytest.mark.skipif(not X86, reason="the pinned baseline is x86-64's")
def test_installed_engine_reports_exactly_the_baseline() -> None:
    features = compiled_features(engine_system_info())
    assert portability_problems(features) == [], engine_system_info()
    assert {"AVX2", "FMA", "F16C"} <= features


@pytest.mark.skipif(not X86, reason="emulates an x86-64 CPU")
def test_bundled_model_decodes_on_an_emulated_haswell() -> None:
    qemu = shutil.which("qemu-x86_64")
    assert qemu, "qemu-user is missing: bash .ci/setup --dev installs it"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    native = subprocess.run([sys.executable, "-c", _DECODE], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert native.returncode == 0, native.stderr[-2000:]
    emulated = subprocess.run([qemu, "-cpu", "Haswell", sys.executable, "-c", _DECODE],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert emulated.returncode == 0, (
        f"the engine died on a Haswell CPU (exit {emulated.returncode}): "
        f"{emulated.stderr[-2000:]}")
    expected = json.loads(native.stdout.strip().splitlines()[-1])
    assert len(expected["tokens"]) == 3
    assert json.loads(emulated.stdout.strip().splitlines()[-1]) == expected
