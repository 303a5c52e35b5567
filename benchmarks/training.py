"""Training benchmark: the same lenses fitted with one BLAS thread (what `Lens.fit` does) and with the threads BLAS
starts with (the naive way), on an otherwise idle machine and beside a busy neighbour.

The neighbour is a second process multiplying matrices with torch on every core, as extraction or a second run does.
Both ways train the baseline and the exponential strategy on the same pools from the activation cache (seed 0,
layer 12); the lenses' numbers must come out identical, only the seconds may differ.

    .venv/bin/python benchmarks/training.py [--simplexes a,b] [--cache-dir .cache/activations]

The default is the first two bundled simplexes (6 poles), in file order.
"""
import argparse, json, os, subprocess, sys, time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout, installed or not
from threadpoolctl import threadpool_info
from hatcat_stier.data_pool import pole_pool
from hatcat_stier.lenses import Lens
from hatcat_stier.pipeline import ModelActivations, pool_arrays, pools_activations
from hatcat_stier.simplexes import POLE_NAMES, get_simplex, load_simplexes
from hatcat_stier.trainer import DualAdaptiveTrainer, ExponentialAdaptiveTrainer

HERE = Path(__file__).resolve().parent
TRAINERS = {"baseline": DualAdaptiveTrainer, "exponential": ExponentialAdaptiveTrainer}
NEIGHBOUR = "import torch\na = torch.randn(1024, 1024)\nwhile True: a @ a"

@contextmanager
def blas_threads_as_started():
    "Lens.fit without its one-thread limit: the naive way."
    limited = Lens.fit
    Lens.fit = limited.__wrapped__
    try: yield
    finally: Lens.fit = limited

@contextmanager
def neighbour(busy:bool):
    "A process keeping every core busy with torch matrix products, or nothing."
    proc = subprocess.Popen([sys.executable, "-c", NEIGHBOUR]) if busy else None
    time.sleep(3 if busy else 0)  # let it start its threads
    try: yield
    finally:
        if proc: proc.kill(); proc.wait()

def train_all(arrays:list)->tuple:
    "(seconds, what each lens came to) for every strategy on every pool."
    start, out = time.perf_counter(), []
    for name, cls in TRAINERS.items():
        for a in arrays:
            r = cls(seed=0).train_concept("pole", **a)["activation"]
            out.append([name, r["iterations"], r["holdout"]["f1"], [(h["lens"], h["test_f1"]) for h in r["history"]]])
    return time.perf_counter() - start, out

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--simplexes", default=None, help="comma-separated dimensions (default: the first two bundled)")
    ap.add_argument("--cache-dir", default=".cache/activations")
    ap.add_argument("--out", default=str(HERE / "training.md"))
    a = ap.parse_args()
    simplexes = load_simplexes()
    dims = a.simplexes.split(",") if a.simplexes else [s.dimension for s in simplexes[:2]]
    pools = [pole_pool(simplexes, get_simplex(simplexes, d), p) for d in dims for p in POLE_NAMES]
    index, acts = pools_activations(pools, ModelActivations(cache_dir=a.cache_dir, progress=False))
    arrays = [pool_arrays(pool, index, acts) for pool in pools]
    threads = max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
    rows, same = [], True
    for busy in (False, True):
        with neighbour(busy):
            with blas_threads_as_started(): naive, naive_out = train_all(arrays)
            limited, limited_out = train_all(arrays)
        same &= naive_out == limited_out
        rows.append((busy, naive, limited))
    n = len(arrays) * len(TRAINERS)
    lines = ["| machine | naive: BLAS threads as started, s per lens | one BLAS thread, s per lens | speed-up |",
             "|---|---:|---:|---:|"]
    lines += [f"| {'beside a busy neighbour' if busy else 'otherwise idle'} | {naive / n:.2f} | {limited / n:.2f} | "
              f"{naive / limited:.1f}x |" for busy, naive, limited in rows]
    text = (f"## Training ({len(pools)} poles of {', '.join(dims)}; baseline and exponential, {n} lenses per row; "
            f"seed 0, layer 12, activations from the cache)\n\n" + "\n".join(lines) +
            f"\n\nBLAS started with {threads} threads on {os.cpu_count()} cores. Lenses identical both ways (every "
            f"draw's chosen lens and test F1, and the holdout F1): {'yes' if same else 'NO'}.\n")
    Path(a.out).write_text(text)
    Path(a.out).with_suffix(".json").write_text(json.dumps({"rows": rows, "identical": same, "threads": threads}) + "\n")
    print(text)

if __name__ == "__main__":
    main()
