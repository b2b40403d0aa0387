"""What `import visivo.telemetry; start()` costs a host at start-up, in a fresh interpreter.

Run: python benchmarks/bench_startup.py

Median of 15 runs, disabled by the environment and enabled with the null sink (so no
network); each in a temporary HOME and working directory.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile

CODE = (
    "import time\n"
    "started = time.perf_counter()\n"
    "import visivo.telemetry as telemetry\n"
    "telemetry.start()\n"
    "print((time.perf_counter() - started) * 1000)\n"
)
CASES = {
    "disabled (DO_NOT_TRACK=1)": {"DO_NOT_TRACK": "1"},
    "enabled (null sink)": {"VISIVO_TELEMETRY_SINK": "null"},
}


def main() -> None:
    for label, extra in CASES.items():
        with tempfile.TemporaryDirectory() as home:
            env = {**os.environ, "HOME": home, **extra}
            samples = [
                float(
                    subprocess.run(
                        [sys.executable, "-c", CODE],
                        env=env,
                        cwd=home,
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout
                )
                for _ in range(15)
            ]
        print(f"{label:<28} median {statistics.median(samples):6.1f} ms")


if __name__ == "__main__":
    main()
