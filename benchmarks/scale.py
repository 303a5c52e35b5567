"""Packs of 45, 450 and 4,500 poles on the local and the Ray executor: prompts/s, fits/s, wall time, peak memory.

Packs of 45 and 450 poles are measured; 4,500 (3.2 million prompts, a 7.3 GB store and hours of extraction on two
cores) is extrapolated from the two: its rates are the 450-pole pack's, its memory on the line through both.

A pack of N poles is N / 45 copies of the 45 bundled poles. Copy k's pools are the bundled pools (seed 0, the
demo's sizes) with " [k]" appended to every prompt, so no two copies share a prompt and nothing is served from the
cache by accident. Each size and executor is measured in a fresh process (`--one`), in four steps:

1. **store**: a cache holding every row of the pack, written before timing. Copy k's row of a prompt is the real
   float32 row of the bundled prompt it copies (layer 12, mean), read from the demo's cache: the text differs by
   the marker only, and training does the same work on it.
2. **fill**: `ModelActivations.fill` over the whole pack's prompts, every one cached: what a resumed or warm run
   pays before training, and proof that filling reads no rows.
3. **extract**: the real model on SAMPLE prompts of the pack that no cache holds, timed after the model loaded:
   prompts/s.
4. **train**: POLES poles of the pack's last copy, trained as `train_poles` trains them (`PoleJob`, the
   executor's `map`, exponential, falloff): fits/s and seconds per pole.

Peak resident memory is the driver's (`ru_maxrss`) and, on Ray, the largest worker's (sampled every 0.2 s); the
last column is what holding every row of the pack at once would take, as the run did before it read rows per
pole. Extraction and training of the whole pack are extrapolated from the samples: prompts / prompts/s, and
N x seconds per pole. On Ray, the start of the training actors (each imports the toolkit) is timed apart and left
out of the seconds per pole: a run pays it once.

    .venv/bin/python benchmarks/scale.py [--cache-dir .cache/activations] [--sizes 45,450,4500]
"""
import argparse, json, os, platform, resource, shutil, subprocess, sys, tempfile, threading, time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout, installed or not
from hatcat_stier.activations import ActivationCache, cache_key, prompt_key
from hatcat_stier.data_pool import SPLITS, DataPool, pole_pool
from hatcat_stier.fits import FitMemo
from hatcat_stier.executors import executor_for
from hatcat_stier.options import RunOptions
from hatcat_stier.pipeline import PoleJob, train_pole
from hatcat_stier.source import ModelActivations
from hatcat_stier.simplexes import POLE_NAMES, load_simplexes
from hatcat_stier.storage import write_json

HERE = Path(__file__).resolve().parent
BUNDLED, SAMPLE, POLES, LAYER, HIDDEN = 45, 384, 15, 12, 576
EXTRAPOLATED = 4500  # 3.2 million prompts: a 7.3 GB store, hours of extraction on two cores
EXECUTORS = ("local", "ray")

def bundled_pools()->list:
    "(dimension, pole, pool) of the 45 bundled poles, seed 0, the demo's sizes."
    simplexes = load_simplexes()
    return [(s.dimension, p, pole_pool(simplexes, s, p, seed=0)) for s in simplexes for p in POLE_NAMES]

def copy_pool(pool:DataPool, k:int)->DataPool:
    "Pool `pool` of copy `k`: every prompt made its own."
    return DataPool({**pool, **{f"{s}_prompts": [f"{p} [{k}]" for p in pool[f"{s}_prompts"]] for s in SPLITS}})

def prompts_of(pool:DataPool)->list: return [p for s in SPLITS for p in pool[f"{s}_prompts"]]

def fill_store(demo_cache:Path, work:Path, size:int):
    "Write every copy's rows into a cache at `work`: the bundled prompt's real row under the copy's text."
    bundled = bundled_pools()
    originals = sorted({p for _, _, pool in bundled for p in prompts_of(pool)})
    demo = ModelActivations(RunOptions(layer=12, cache_dir=demo_cache, dtype="float32"), progress=False)
    rows = demo.rows(originals, LAYER, "mean")  # the demo's cache serves these
    shutil.copy(demo_cache / "models.json", work / "models.json")  # the model's facts: no load to learn them
    store = ActivationCache(work).store(cache_key(demo.facts()["model_id"], "cpu"), LAYER, "mean")
    for k in range(size // BUNDLED):
        for start in range(0, len(originals), store.full_rows):
            part = originals[start:start + store.full_rows]
            store.add([prompt_key(f"{p} [{k}]") for p in part], rows[start:start + len(part)])

class WorkerPeak:
    "The largest resident memory of any Ray worker process, sampled while running."
    def __init__(self):
        import psutil
        self.psutil, self.peak, self.stop = psutil, 0, threading.Event()
        threading.Thread(target=self._watch, daemon=True).start()
    def _watch(self):
        while not self.stop.wait(0.2):
            for p in self.psutil.process_iter(["cmdline", "memory_info"]):
                if (p.info["cmdline"] or [""])[0].startswith("ray::Worker") and p.info["memory_info"]:
                    self.peak = max(self.peak, p.info["memory_info"].rss)

def timed(f):
    start = time.perf_counter(); out = f()
    return out, time.perf_counter() - start

def measure(size:int, executor_name:str, work:Path)->dict:
    "Steps 2 to 4 for one pack size on one executor, in this process, on the store at `work`."
    peaks = WorkerPeak() if executor_name == "ray" else None
    executor = executor_for(executor_name)
    source = ModelActivations(RunOptions(layer=12, cache_dir=work, dtype="float32"), executor=executor, progress=False)
    source.fits = FitMemo(Path(tempfile.mkdtemp(prefix="fits-")))  # each executor fits every draw itself
    pack = [(f"{d} [{k}]", p, copy_pool(pool, k)) for k in range(size // BUNDLED) for d, p, pool in bundled_pools()]
    union = sorted({p for _, _, pool in pack for p in prompts_of(pool)})
    (_, fill_s) = timed(lambda: source.fill(union, 12, "mean"))
    assert source.extracted == 0, "the pack's store lacks rows"
    fresh = [f"{p} [sample, {executor_name}]" for p in union[:: max(1, len(union) // SAMPLE)][:SAMPLE]]
    list(executor.map(_load, [None], source))  # the model loads here, untimed (on Ray: in the kept actors)
    (_, extract_s) = timed(lambda: source.fill(fresh, 12, "mean"))
    job = PoleJob(source.options, source, source.facts()["layers"], source.identity(), record=executor.remote)
    sample = pack[-BUNDLED:][:: BUNDLED // POLES][:POLES]  # the same poles at every size, of the last copy
    # Ray starts one light actor per CPU for each map, which imports the toolkit: timed apart, paid once per run
    (_, startup_s) = timed(lambda: list(executor.map(_nothing, [None] * 2, job, kind="cpu")))
    (trained, train_s) = timed(lambda: list(executor.map(train_pole, sample, job, kind="cpu")))
    train_s -= startup_s if executor.remote else 0.0
    fits = sum(len(results["activation"]["history"]) for results, *_ in trained)
    if peaks: peaks.stop.set()
    return {"size": size, "executor": executor_name, "prompts": len(union), "prompts_per_pole": len(union) / size,
            "fill_seconds": fill_s, "extracted": len(fresh), "extract_seconds": extract_s,
            "prompts_per_s": len(fresh) / extract_s, "poles_trained": len(sample), "fits": fits,
            "startup_seconds": startup_s if executor.remote else 0.0, "train_seconds": train_s,
            "fits_per_s": fits / train_s, "seconds_per_pole": train_s / len(sample),
            "driver_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "worker_peak_mb": peaks.peak / 2**20 if peaks else None}

def _load(source, _): source._load()

def _nothing(job, _): return None

def cpu_name()->str:
    info = Path("/proc/cpuinfo")
    names = [l.split(":", 1)[1].strip() for l in info.read_text().splitlines() if l.startswith("model name")]
    return names[0] if names else platform.machine()

def whole_pack(row:dict)->dict:
    "The whole pack's extraction and training hours from the samples, and the cost of one pole, all in."
    extract, train = row["prompts"] / row["prompts_per_s"], row["size"] * row["seconds_per_pole"]
    return {"extract_hours": extract / 3600, "train_hours": train / 3600,
            "seconds_per_pole_total": (extract + train) / row["size"]}

def extrapolate(rows:list, size:int)->list:
    "Rows for `size` poles: the largest measured size's rates, memory on the line through the two largest."
    out = []
    for name in EXECUTORS:
        a, b = [r for r in rows if r["executor"] == name][-2:]
        more = b["prompts"] * (size / b["size"] - 1)  # prompts beyond the largest measured pack
        line = lambda key: b[key] + (b[key] - a[key]) / (b["prompts"] - a["prompts"]) * more
        out.append({**b, "size": size, "prompts": b["prompts"] * size // b["size"], "extrapolated": True,
                    "driver_peak_mb": line("driver_peak_mb"),
                    "worker_peak_mb": line("worker_peak_mb") if b["worker_peak_mb"] else None})
    return out

def table(rows:list)->str:
    head = ("| poles | executor | prompts | fill (all cached), s | prompts/s | fits/s | train s per pole | "
            "whole pack: extract + train, h | s per pole, all in | driver peak, MB | largest worker peak, MB | "
            "every row held at once, MB |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        x, mark = whole_pack(r), " (extrapolated)" if r.get("extrapolated") else ""
        fill = "–" if r.get("extrapolated") else f"{r['fill_seconds']:.1f}"
        worker = f"{r['worker_peak_mb']:.0f}" if r["worker_peak_mb"] else "–"
        lines.append(f"| {r['size']:,}{mark} | {r['executor']} | {r['prompts']:,} | {fill} | "
                     f"{r['prompts_per_s']:.1f} | {r['fits_per_s']:.1f} | {r['seconds_per_pole']:.2f} | "
                     f"{x['extract_hours']:.1f} + {x['train_hours']:.1f} | {x['seconds_per_pole_total']:.1f} | "
                     f"{r['driver_peak_mb']:.0f} | {worker} | {r['prompts'] * HIDDEN * 4 / 2**20:,.0f} |")
    return "\n".join(lines)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache-dir", default=".cache/activations", help="the demo's cache (float32, seed 0)")
    ap.add_argument("--sizes", default="45,450", help="measured; EXTRAPOLATED is added from the last two")
    ap.add_argument("--store", nargs=2, metavar=("SIZE", "DIR"), help="step 1 only, in this process")
    ap.add_argument("--one", nargs=3, metavar=("SIZE", "EXECUTOR", "DIR"), help="steps 2-4, in this process")
    ap.add_argument("--out", default=str(HERE / "scale.md"))
    a = ap.parse_args()
    if a.store: return fill_store(Path(a.cache_dir), Path(a.store[1]), int(a.store[0]))
    if a.one: return print(json.dumps(measure(int(a.one[0]), a.one[1], Path(a.one[2]))))
    rows, me = [], [sys.executable, __file__, "--cache-dir", a.cache_dir]
    for size in map(int, a.sizes.split(",")):
        work = Path(tempfile.mkdtemp(prefix=f"scale-{size}-"))
        start = time.perf_counter()
        subprocess.run([*me, "--store", str(size), work], check=True)
        store_s = time.perf_counter() - start
        for name in EXECUTORS:
            out = subprocess.run([*me, "--one", str(size), name, work], capture_output=True, text=True, check=True)
            rows.append({**json.loads(out.stdout.strip().splitlines()[-1]), "store_seconds": store_s})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        shutil.rmtree(work)
    rows += extrapolate(rows, EXTRAPOLATED)
    write_json(Path(a.out).with_suffix(".json"), {"rows": rows, "cpu": cpu_name(), "cores": os.cpu_count(),
                                                   "date": time.strftime("%Y-%m-%d")})
    Path(a.out).write_text(f"# Packs of poles, local and Ray\n\n{time.strftime('%Y-%m-%d')}, {cpu_name()}, "
                           f"{os.cpu_count()} cores, float32, SmolLM2-135M-Instruct at layer {LAYER}\n\n"
                           + table(rows) + "\n")
    print(table(rows))

if __name__ == "__main__":
    main()
