"""How fast `llmops-ci validate --help` and `validate` start, as a ratio to
`python -c "import jsonschema, yaml"` (the floor: validate needs both).

Run: python benchmarks/bench_startup.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def timed(cmd: list[str], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    py = sys.executable
    base = timed([py, "-c", "import jsonschema, yaml"], args.repeat)
    rows = [
        ("validate --help", [py, "-m", "llmops_ci", "validate", "--help"]),
        ("validate examples/llmops.yaml", [py, "-m", "llmops_ci", "validate", "--config", str(REPO / "examples" / "llmops.yaml")]),
        ("import mlflow (for scale)", [py, "-c", "import mlflow"]),
    ]
    print(f"baseline  python -c 'import jsonschema, yaml': {base * 1000:.0f} ms (median of {args.repeat})")
    for name, cmd in rows:
        t = timed(cmd, args.repeat)
        print(f"{name:32s} {t * 1000:6.0f} ms  ratio {t / base:.2f}x")


if __name__ == "__main__":
    main()
