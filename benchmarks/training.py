"""Training benchmark: each fit once (the fit memo) against refitting every draw, and one BLAS thread per fit.

Part 1, the memo: the demo's training of one seed (every strategy, in the falloff and the strict mode, on every
bundled pole; seed 0, layer 12, activations from the cache) once the naive way, every trainer fitting its own draws,
and once through one `FitMemo`, which fits each distinct draw once. The lenses' numbers must come out identical.

Part 2, BLAS threads: the same lenses fitted with one BLAS thread (what `Lens.fit` does) and with the threads BLAS
starts with (the naive way), on an otherwise idle machine and beside a busy neighbour (a second process multiplying
matrices with torch on every core, as extraction or a second run does): the baseline and the exponential strategy
on the first two bundled simplexes (6 poles).

    .venv/bin/python benchmarks/training.py [--simplexes a,b] [--cache-dir .cache/activations]
"""
import argparse, json, os, subprocess, sys, time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout, installed or not
from threadpoolctl import threadpool_info
from hatcat_stier.data_pool import pole_pool
from hatcat_stier.lenses import Lens
from hatcat_stier.fits import FitMemo
from hatcat_stier.options import RunOptions
from hatcat_stier.pipeline import pool_arrays, pools_activations, train_arrays
from hatcat_stier.schedule import STRATEGIES
from hatcat_stier.source import ModelActivations
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

def untimed(obj):
    "`obj` without its clock readings, the one part a memo may change."
    if isinstance(obj, dict): return {k: untimed(v) for k, v in obj.items() if k not in ("seconds", "wall_seconds")}
    if isinstance(obj, list): return [untimed(v) for v in obj]
    return obj

def fits_asked(results:dict)->int:
    "The fits a lens's training asks for: one per distinct draw size of each attempt."
    return sum(len({h["samples"] for h in a["history"]}) for a in results.get("attempts", [results["activation"]]))

def demo_training(named_arrays:list, memo:FitMemo|None)->tuple:
    "(seconds, fits asked, results) of every strategy in both validation modes on every pool, through `memo`."
    start, out = time.perf_counter(), []
    for mode in ("falloff", "strict"):
        for strategy in STRATEGIES:
            out += [train_arrays(strategy, name, a, 0, validation_mode=mode, fit_memo=memo)[0]
                    for name, a in named_arrays]
    return time.perf_counter() - start, sum(map(fits_asked, out)), untimed(out)

def memo_section(simplexes:list, cache_dir)->str:
    "Part 1: the demo's fits of seed 0, refitted every time and through one memo."
    poles = [(s, p) for s in simplexes for p in POLE_NAMES]
    pools = [pole_pool(simplexes, s, p) for s, p in poles]
    index, acts = pools_activations(pools, ModelActivations(RunOptions(layer=12, cache_dir=cache_dir), progress=False))
    named = [(f"{s.dimension}_{p}", pool_arrays(pool, index, acts)) for (s, p), pool in zip(poles, pools)]
    naive_s, asked, naive_out = demo_training(named, None)
    memo = FitMemo()
    memo_s, _, memo_out = demo_training(named, memo)
    return "\n".join([
        f"## Each fit once ({len(pools)} poles; baseline, exponential and hybrid, falloff and strict; seed 0)", "",
        "| way | lenses | fits | seconds | speed-up |", "|---|---:|---:|---:|---:|",
        f"| naive: every trainer fits its own draws | {len(naive_out)} | {asked} | {naive_s:.0f} | 1.0x |",
        f"| one `FitMemo` for all | {len(memo_out)} | {memo.misses} (+{memo.hits} served) | {memo_s:.0f} | "
        f"{naive_s / memo_s:.1f}x |", "",
        f"Lenses identical both ways (every result but its clocks): {'yes' if naive_out == memo_out else 'NO'}."])

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--simplexes", default=None, help="comma-separated dimensions (default: the first two bundled)")
    ap.add_argument("--cache-dir", default=".cache/activations")
    ap.add_argument("--out", default=str(HERE / "training.md"))
    a = ap.parse_args()
    simplexes = load_simplexes()
    dims = a.simplexes.split(",") if a.simplexes else [s.dimension for s in simplexes[:2]]
    pools = [pole_pool(simplexes, get_simplex(simplexes, d), p) for d in dims for p in POLE_NAMES]
    source = ModelActivations(RunOptions(layer=12, cache_dir=a.cache_dir), progress=False)
    index, acts = pools_activations(pools, source)
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
    text = (memo_section(simplexes, a.cache_dir) + "\n\n" +
            f"## One BLAS thread per fit ({len(pools)} poles of {', '.join(dims)}; baseline and exponential, "
            f"{n} lenses per row; seed 0, layer 12, activations from the cache)\n\n" + "\n".join(lines) +
            f"\n\nBLAS started with {threads} threads on {os.cpu_count()} cores. Lenses identical both ways (every "
            f"draw's chosen lens and test F1, and the holdout F1): {'yes' if same else 'NO'}.\n")
    Path(a.out).write_text(text)
    Path(a.out).with_suffix(".json").write_text(
        json.dumps({"blas": rows, "identical": same, "threads": threads}) + "\n")
    print(text)

if __name__ == "__main__":
    main()
