"""Where a lens reads a prompt: every reading side by side on every bundled pole, on the holdout and on public text.

Each reading (`mean`, `template`, `last-4`, `concat`, `average`, and `auto`, the choice made per pole on its training
split) trains the exponential strategy (falloff) on the same pools (seed 0, the demo's sizes) with the embedded
SmolLM2-135M-Instruct at the default dtype; layer 12 for the single-layer readings, the candidate layers for the
joined ones. The holdout grades each lens; the transfer evaluation scores the mapped lenses on the AFINN and TextBlob
words; differences to `mean` are paired by pole, with 95 % intervals that resample poles. Extraction cost is the
time of one uncached pass over the same 256 prompts per reading, relative to `mean`, fastest of three interleaved
rounds in this one run.

The rule for the default, fixed before the run: the `auto` run's training-split scores (grouped-CV F1 of every
reading for every pole) decide. The reading with the highest mean score becomes the default only if its paired
difference to `mean` has an interval above zero; otherwise `mean` stays. The holdout and the transfer sets decide
nothing; they are reported.

    .venv/bin/python benchmarks/reading.py [--cache-dir .cache/activations] [--seed 0] [--train-only]
"""
import argparse, json, os, sys, time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout, installed or not
from hatcat_stier.compare import RATE_SAMPLE, pole_interval
from hatcat_stier.data_pool import pole_pool
from hatcat_stier.evaluate import transfer
from hatcat_stier.options import RunOptions
from hatcat_stier.pipeline import train_s_tier_simplexes
from hatcat_stier.reading import READINGS
from hatcat_stier.runs import load_pole
from hatcat_stier.source import ModelActivations
from hatcat_stier.simplexes import POLE_NAMES, load_simplexes

HERE = Path(__file__).resolve().parent
OPTIONS = (*READINGS, "auto")
# auto's one pass through the template fills both template readings, and the joined layers' pass fills layer 12
TRAIN_ORDER = ("mean", "concat", "average", "auto", "template", "last-4")
MEASURES = {"holdout F1": "holdout_f1", "holdout calibration": "holdout_calibration"}

def train(reading:str, a)->dict:
    "The run of one reading (resumed when it exists): its summary."
    options = RunOptions(reading=reading, seed=a.seed, cache_dir=a.cache_dir)
    return train_s_tier_simplexes(None, options, Path(a.runs) / reading, source=ModelActivations(options))

def extraction_cost(prompts:list, a, rounds:int=3)->dict:
    "Seconds of one uncached pass over `prompts` per reading (fastest of `rounds` interleaved), and the ratio to mean."
    sources = {r: ModelActivations(RunOptions(reading=r, cache_dir=a.cache_dir), progress=False) for r in READINGS}
    sources["mean"](prompts[:4], cached=False)  # load the model once before any clock runs
    for s in sources.values(): s.model, s.tokenizer = sources["mean"].model, sources["mean"].tokenizer
    best = {r: float("inf") for r in READINGS}
    for _ in range(rounds):
        for r, s in sources.items():
            start = time.perf_counter()
            s(prompts, cached=False)
            best[r] = min(best[r], time.perf_counter() - start)
    best["auto"] = best["concat"] + best["template"]  # concat's pass fills layer 12, template's fills last-4 too
    return {r: {"seconds": t, "relative": t / best["mean"]} for r, t in best.items()}

def training_choice(run_dir:Path, simplexes:list)->dict:
    "The `auto` run's training-split scores: per reading the mean CV F1, paired difference to mean, the rule's pick."
    scores = [load_pole(run_dir, s.dimension, p)["layer_scores"] for s in simplexes for p in POLE_NAMES]
    mean_cv = {r: float(np.mean([sc[r] for sc in scores])) for r in READINGS}
    chosen = {r: sum(max(READINGS, key=lambda k: (sc[k], -READINGS.index(k))) == r for sc in scores) for r in READINGS}
    best = max(READINGS, key=lambda r: (mean_cv[r], -READINGS.index(r)))
    diff = pole_interval([sc[best] - sc["mean"] for sc in scores]) if best != "mean" else None
    default = best if diff and diff["ci"][0] > 0 else "mean"
    return {"mean_cv_f1": mean_cv, "poles_choosing": chosen, "best": best, "best_minus_mean": diff, "default": default}

def transfer_means(run_dir:Path, cache_dir)->dict:
    "{set: mean AUROC over its lenses} of one run's transfer evaluation."
    result = transfer(run_dir, cache_dir=cache_dir, progress=False)
    return {name: float(np.mean([l["auroc"] for l in s["lenses"]])) for name, s in result["sets"].items()}

def rows_of(summary:dict)->dict:
    return {(r["dimension"], r["pole"]): r for r in summary["poles"]}

def table(summaries:dict, costs:dict, transfers:dict, choice:dict, seed:int)->list:
    "The markdown lines of the side-by-side table."
    base = rows_of(summaries["mean"])
    sets = sorted({k for t in transfers.values() for k in t})
    head = ["| reading | holdout F1 | vs mean [95 %] | holdout calibration | vs mean [95 %] | holdout A-grade | "
            + " | ".join(f"transfer AUROC, {s}" for s in sets) + " | extraction cost vs mean |",
            "|---|---:|---:|---:|---:|---:|" + "---:|" * len(sets) + "---:|"]
    lines = []
    for r, summary in summaries.items():
        rows, cells = rows_of(summary), []
        for m, key in MEASURES.items():
            values = [rows[k][key] for k in base]
            cells.append(f"{np.mean(values):.4f}")
            if r == "mean": cells.append("–"); continue
            d = pole_interval([rows[k][key] - base[k][key] for k in base])
            cells.append(f"{d['value']:+.4f} [{d['ci'][0]:+.4f}, {d['ci'][1]:+.4f}]")
        cells.append(f"{np.mean([rows[k]['grade'] == 'A' for k in base]):.1%}")
        cells += [f"{transfers[r][s]:.3f}" for s in sets]
        cells.append(f"{costs[r]['relative']:.2f}x")
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    cv = choice["mean_cv_f1"]
    diff = choice["best_minus_mean"]
    verdict = (f"`{choice['best']}` scores best on the training split, {diff['value']:+.4f} [{diff['ci'][0]:+.4f}, "
               f"{diff['ci'][1]:+.4f}] over `mean`" if diff else "`mean` scores best on the training split")
    return [f"## Readings side by side ({len(base)} poles, seed {seed}, exponential, falloff)", "", *head, *lines, "",
            "Training-split choice (the `auto` run's grouped-CV F1, mean over poles): "
            + ", ".join(f"{r} {v:.4f}" for r, v in cv.items()) + "; poles choosing each: "
            + ", ".join(f"{r} {n}" for r, n in choice["poles_choosing"].items()) + f". {verdict}: by the rule fixed "
            f"before the run the training split calls for **`{choice['default']}`** as the default."]

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache-dir", default=".cache/activations")
    ap.add_argument("--runs", default="runs/reading", help="one run per reading; rerun to resume")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-only", action="store_true", help="train (and fill the cache); no table")
    ap.add_argument("--out", default=str(HERE / "reading.md"))
    a = ap.parse_args()
    start, simplexes = time.perf_counter(), load_simplexes()
    trained = {r: train(r, a) for r in TRAIN_ORDER}
    summaries = {r: trained[r] for r in OPTIONS}
    if a.train_only: return
    pool = pole_pool(simplexes, simplexes[0], POLE_NAMES[0], seed=a.seed)
    costs = extraction_cost(sorted(pool.train_prompts)[:RATE_SAMPLE], a)
    transfers = {r: transfer_means(Path(a.runs) / r, a.cache_dir) for r in TRAIN_ORDER}  # auto fills both templates
    choice = training_choice(Path(a.runs) / "auto", simplexes)
    lines = table(summaries, costs, transfers, choice, a.seed)
    lines += ["", f"Machine: {os.cpu_count()} cores. Extraction cost: one uncached pass over {RATE_SAMPLE} training "
              "prompts per reading, fastest of three interleaved rounds (auto: the passes it needs). "
              f"This run (training resumed where its runs existed): {time.perf_counter() - start:.0f} s."]
    text = "\n".join(lines) + "\n"
    Path(a.out).write_text(text)
    Path(a.out).with_suffix(".json").write_text(json.dumps(
        {"costs": costs, "transfer": transfers, "choice": choice,
         "stats": {r: s["stats"] for r, s in summaries.items()}}, indent=1) + "\n")
    print(text)

if __name__ == "__main__":
    main()
