"""Wall time of `annapurna demo` on a fresh ANNAPURNA_HOME; prints one final JSON line.

Usage: .venv/bin/python benchmarks/demo.py [--papers DIR]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--papers", help="folder of PDFs (default: the bundled demo corpus)")
    args = parser.parse_args()
    annapurna = Path(sys.executable).with_name("annapurna")
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "ANNAPURNA_HOME": home}
        command = [str(annapurna), "demo"] + (["--papers", args.papers] if args.papers else [])
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
        status = subprocess.run(
            [str(annapurna), "status", "--json"], env=env, check=True, capture_output=True, text=True
        )
    print(json.dumps({"seconds": round(seconds, 1), "cpus": os.cpu_count(), **json.loads(status.stdout)}))


if __name__ == "__main__":
    main()
