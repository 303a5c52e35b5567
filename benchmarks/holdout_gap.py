"""Learning curves on the bundled simplexes: test F1 (seen wording) vs holdout F1 (reserved wording).

For every pole of every bundled simplex, a lens (the trainer's default) is fitted on the nested
draws of the exponential schedule (10 ... 512 rows) and measured on the test split and on the
holdout. No graduation is involved: this shows how much each extra row buys on each split.

    .venv/bin/python benchmarks/holdout_gap.py [--cache-dir .cache/activations] [--out benchmarks/holdout_gap.md]
"""
import argparse, sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout, installed or not
from hatcat_stier.data_pool import pole_pool
from hatcat_stier.lenses import Lens, calibration_score, classification_metrics
from hatcat_stier.pipeline import ModelActivations, pool_arrays, pools_activations
from hatcat_stier.simplexes import POLE_NAMES, load_simplexes
from hatcat_stier.trainer import stratified_order

SIZES = (10, 20, 40, 80, 160, 320, 512)

def curve(arrays, seed=0):
    "Per draw size: (test F1, holdout F1, holdout calibration score) of a lens fitted on that draw."
    y = np.asarray(arrays["train_labels"])
    order = stratified_order(y, seed)
    out = []
    for n in SIZES:
        lens = Lens(seed=seed).fit(arrays["train_activations"][order[:n]], y[order[:n]])
        pt, ph = (lens.predict_proba(arrays[f"{s}_activations"])[:, 1] for s in ("test", "holdout"))
        out.append((classification_metrics(arrays["test_labels"], pt)["f1"],
                    classification_metrics(arrays["holdout_labels"], ph)["f1"],
                    calibration_score(arrays["holdout_labels"], ph, arrays["holdout_groups"])))
    return out

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache-dir", default=".cache/activations")
    ap.add_argument("--out", default=str(Path(__file__).with_name("holdout_gap.md")))
    a = ap.parse_args()
    simplexes = load_simplexes()
    pools = [pole_pool(simplexes, s, p) for s in simplexes for p in POLE_NAMES]
    index, acts = pools_activations(pools, ModelActivations(cache_dir=a.cache_dir))
    curves = np.array([curve(pool_arrays(pool, index, acts)) for pool in pools])  # (poles, sizes, 3)
    lines = [f"## Test vs holdout by training rows ({len(pools)} poles, embedded model, layer 12, mean pooling, seed 0)", "",
             "| training rows | mean test F1 | mean holdout F1 | mean holdout calibration | poles with holdout F1 >= 0.95 |",
             "|---:|---:|---:|---:|---:|"]
    for i, n in enumerate(SIZES):
        t, h, c = curves[:, i].T
        lines.append(f"| {n} | {t.mean():.3f} | {h.mean():.3f} | {c.mean():.3f} | {int((h >= 0.95).sum())} |")
    text = "\n".join(lines) + "\n"
    Path(a.out).write_text(text)
    print(text)

if __name__ == "__main__":
    main()
