"""Doctor: `hatcat-stier doctor` on both embedded models, with the date, the machine and how busy it was.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/doctor.py

(one thread when other work shares the cores: two threads spinning against it made every pass several times slower).
Writes benchmarks/doctor.md: each model's report as the command prints it, ready to quote or paste into an issue.
"""
import os, sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout, installed or not
from hatcat_stier.doctor import doctor

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    reports = [doctor(name) for name in ("smollm2-135m", "gemma-3-270m")]
    load = os.getloadavg()[0]
    text = "\n\n".join(["## `hatcat-stier doctor` on the embedded models", *map(str, reports),
                        f"torch on {torch.get_num_threads()} thread(s); one-minute load average {load:.1f} on "
                        f"{os.cpu_count()} CPUs at the end. `hatcat-stier doctor MODEL` prints the same table."])
    (HERE / "doctor.md").write_text(text + "\n")
    print(text)
