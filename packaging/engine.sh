#!/usr/bin/env bash
# Installs llama-cpp-python, the bundled server's engine, as a portable build into a venv.
#   bash packaging/engine.sh .venv/bin/python
#
# llama-cpp-python compiles llama.cpp with -march=native unless told otherwise, which ties the
# binary to the build machine's CPU (AVX-512/AMX code that crashes on older CPUs, and under
# hypervisors that advertise AMX but fault on it). We pin one x86-64 baseline instead:
# Haswell (2013) and later, i.e. AVX2 + FMA + F16C + BMI2, nothing newer.
#
# The wheel is built once per (version, flags, Python, arch) into our own cache, never pip's:
# a native wheel pip cached earlier for the same version must not be picked up. Later setups
# install the cached wheel in seconds.
set -euo pipefail
python="${1:?usage: engine.sh PYTHON}"

version="0.3.36"
flags=(
  -DGGML_NATIVE=OFF -DGGML_CPU_ALL_VARIANTS=OFF -DGGML_BACKEND_DL=OFF
  -DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
  -DGGML_AVX_VNNI=OFF -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF
  -DGGML_AVX512_BF16=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
  # Multimodal (llava/mtmd) is not used by the server; skipping it halves the build.
  -DLLAVA_BUILD=OFF
)
pytag="$("$python" -c 'import sys, platform; print(f"cp{sys.version_info[0]}{sys.version_info[1]}-{platform.machine()}")')"
key="$(printf '%s\n' "$version" "${flags[*]}" "$pytag" | sha256sum | cut -c1-16)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/layerscale-dashboard/engine/$key"

wheel="$(ls "$cache"/llama_cpp_python-"$version"-*.whl 2>/dev/null | head -n 1 || true)"
if [ -z "$wheel" ]; then
  echo "engine: building llama-cpp-python $version (portable x86-64: AVX2/FMA/F16C; ~5 min on 2 cores)"
  tmp="$(mktemp -d)"
  CMAKE_ARGS="${flags[*]}" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    "$python" -m pip wheel -q --no-cache-dir --no-deps --no-binary llama-cpp-python \
    -w "$tmp" "llama-cpp-python==$version"
  mkdir -p "$cache"
  mv "$tmp"/llama_cpp_python-*.whl "$cache"/
  rm -rf "$tmp"
  wheel="$(ls "$cache"/llama_cpp_python-"$version"-*.whl | head -n 1)"
else
  echo "engine: reusing $wheel"
fi
# --force-reinstall --no-deps: replace whatever build is installed (a native one included).
"$python" -m pip install -q --force-reinstall --no-deps "$wheel"
