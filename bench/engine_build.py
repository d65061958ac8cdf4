"""The portable engine build against a native (-march=native) one, same model, same threads.

    .venv/bin/python -m bench.engine_build --native-python /tmp/native-venv/bin/python

Our build (packaging/engine.sh) pins an x86-64 baseline (AVX2/FMA/F16C) so it runs on every
user's CPU; this measures what that costs here against a build for this very CPU. The peer is
llama-cpp-python of the same version built with its defaults into a venv of its own, e.g.:

    python3 -m venv /tmp/native-venv
    CMAKE_ARGS=-DLLAVA_BUILD=OFF /tmp/native-venv/bin/pip install --no-cache-dir \\
        llama-cpp-python==0.3.36 numpy

Each engine runs in its own process through app.localserver.engine.Engine (the server's own
code): prompt evaluation of 512 tokens in one batch, then 64 greedy generation tokens; best of
--repeats runs. Without --native-python only the portable build is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from app.bundled_model import bundled_model_path

ROOT = Path(__file__).resolve().parents[1]

_MEASURE = """
import json, sys, time
from pathlib import Path
import llama_cpp
from app.localserver.engine import Engine
model, threads, repeats = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
if sys.argv[4] == "off":
    # llama.cpp's extra buffer types (AMX/AVX-512 weight repacking) off, as the one way a
    # native build of an AMX machine runs under a hypervisor that faults on AMX.
    defaults = llama_cpp.llama_model_default_params
    def _params():
        params = defaults()
        params.use_extra_bufts = False
        return params
    llama_cpp.llama_model_default_params = _params
engine = Engine(model, n_ctx_per_seq=1024, n_seq=1, threads=threads, gpu_layers=0, n_batch=512)
words = "open high low close volume candle price trend " * 200
prompt = engine.tokenize(words)[:512]
best_prompt = best_gen = 0.0
for _ in range(repeats):
    engine.seq_clear(0)
    t0 = time.perf_counter()
    engine.decode(0, prompt, 0)
    t1 = time.perf_counter()
    logits, pos, n = engine.last_logits(), len(prompt), 64
    for _ in range(n):
        token, _gap = engine.top_gap(logits)
        engine.decode(0, [token], pos)
        pos += 1
        logits = engine.last_logits()
    t2 = time.perf_counter()
    best_prompt = max(best_prompt, len(prompt) / (t1 - t0))
    best_gen = max(best_gen, n / (t2 - t1))
info = llama_cpp.llama_print_system_info().decode()
print(json.dumps({"prompt": best_prompt, "gen": best_gen, "info": info}))
"""


def measure(python: str, model: Path, threads: int, repeats: int, extra_bufts: str
            ) -> dict[str, object]:
    # Only the project root on the path: each interpreter must use its own llama_cpp.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run([python, "-c", _MEASURE, str(model), str(threads), str(repeats),
                           extra_bufts],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        return {"error": f"died (exit {done.returncode})"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def isa(info: str) -> str:
    picked = [part.split("=")[0].strip() for part in info.split("|") if "= 1" in part]
    return " ".join(p for p in picked if p.startswith(("AVX", "AMX", "F16C", "FMA", "BMI")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--native-python", help="interpreter of a venv with a native build")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    model = bundled_model_path()
    if model is None:
        print("the bundled model is not installed", file=sys.stderr)
        return 1
    engines = [("portable (ours)", sys.executable, "on")]
    if args.native_python:
        engines += [("native", args.native_python, "on"),
                    ("native, extra buffer types off", args.native_python, "off")]
    rows = []
    for threads in args.threads:
        for name, python, extra in engines:
            result = measure(python, model, threads, args.repeats, extra)
            rows.append((threads, name, result))
    print(f"\nSmolLM2-135M Q4_1, 512-token prompt, 64 generated tokens, best of {args.repeats}\n")
    print("| threads | build | instruction sets | prompt tok/s | generation tok/s |")
    print("|---|---|---|---|---|")
    for threads, name, r in rows:
        if "error" in r:
            print(f"| {threads} | {name} | | {r['error']} | |")
            continue
        print(f"| {threads} | {name} | {isa(str(r['info']))} | {float(r['prompt']):,.0f} "  # type: ignore[arg-type]
              f"| {float(r['gen']):,.1f} |")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
