"""Is the installed llama.cpp engine our portable build? (`python -m app.localserver.portability`)

A build made with -march=native carries whatever the build machine's CPU advertised (AVX-512,
AMX), and dies with SIGILL or SIGSEGV on CPUs, or under hypervisors, that cannot run it. Our
build (packaging/engine.sh) pins the x86-64 baseline below. llama.cpp reports the instruction
sets it was *compiled* for in its system info, so this check reads the build, not the CPU.
"""

from __future__ import annotations

import platform
import re
import sys

# Haswell (2013) and later: what packaging/engine.sh enables, and nothing else.
X86_BASELINE = frozenset({"SSE3", "SSSE3", "AVX", "AVX2", "F16C", "FMA", "BMI2"})
X86_REQUIRED = frozenset({"AVX2", "FMA", "F16C"})  # without these the engine is needlessly slow
_ISA = re.compile(r"^(SSE|SSSE|AVX|AMX|F16C|FMA|BMI|VNNI)")


def engine_system_info() -> str:
    import llama_cpp

    raw = llama_cpp.llama_print_system_info()
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def compiled_features(system_info: str) -> frozenset[str]:
    """The `NAME = 1` entries of llama.cpp's system info (it lists only enabled ones)."""
    return frozenset(m.group(1) for m in re.finditer(r"([A-Z0-9_]+) = 1\b", system_info))


def portability_problems(features: frozenset[str], machine: str | None = None) -> list[str]:
    machine = (machine or platform.machine()).lower()
    if machine not in ("x86_64", "amd64"):
        return []  # no baseline is pinned for other architectures yet
    problems = [f"built with {name}, which not every x86-64 CPU runs"
                for name in sorted(features) if _ISA.match(name) and name not in X86_BASELINE]
    problems += [f"built without {name}" for name in sorted(X86_REQUIRED - features)]
    return problems


def main() -> int:
    info = engine_system_info()
    features = compiled_features(info)
    problems = portability_problems(features)
    if problems:
        print("engine: NOT the portable build: " + "; ".join(problems), file=sys.stderr)
        print(f"engine: llama.cpp reports: {info.strip()}", file=sys.stderr)
        print("engine: reinstall it with `bash packaging/engine.sh .venv/bin/python`",
              file=sys.stderr)
        return 1
    isa = sorted(f for f in features if _ISA.match(f))
    print(f"engine: portable build ({' '.join(isa) or 'no x86 baseline pinned'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
