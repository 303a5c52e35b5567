"""Drafted against hand-written material: lenses for one bundled simplex trained on material that an instruct model
drafted from the poles' labels and definitions alone (`draft_material`), graded on the hand-written holdout.

The drafted material is written to --material (kept for review; rerun to resume). Drafted entries that are in the
hand-written holdout or in another simplex's material are dropped before any pool is built, so no drafted lens trains
on holdout wording. Both lenses per pole: exponential strategy, layer 12, seed 0, the same hand-written holdout.

    .venv/bin/python benchmarks/drafted.py [--simplex affect_valence] [--model smollm2-135m]
"""
import argparse, json, sys, time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout, installed or not
from hatcat_stier.activations import load_model, model_id
from hatcat_stier.data_pool import pole_pool
from hatcat_stier.draft import draft_material, generator
from hatcat_stier.options import RunOptions
from hatcat_stier.pipeline import pool_arrays, pools_activations
from hatcat_stier.source import ModelActivations
from hatcat_stier.simplexes import POLE_NAMES, Pole, Simplex, get_simplex, load_simplexes
from hatcat_stier.trainer import ExponentialAdaptiveTrainer

HERE = Path(__file__).resolve().parent

def bare(simplex:Simplex)->Simplex:
    "The simplex with labels, definitions and declared overlaps only: what a researcher's own file holds."
    poles = {n: Pole(p.label, p.definition, p.synset, overlaps=p.overlaps) for n, p in simplex.poles.items()}
    return replace(simplex, **poles)

def without(simplex:Simplex, banned:set)->Simplex:
    "The simplex without the lexicon entries and situations in `banned` (casefolded)."
    keep = lambda items: [e for e in items if e.casefold() not in banned]
    return replace(simplex, **{n: replace(p, lexicon=keep(p.lexicon), situations=keep(p.situations))
                               for n, p in simplex.poles.items()})

def train(arrays:dict, seed:int)->dict:
    return ExponentialAdaptiveTrainer(seed=seed).train_concept("pole", **arrays)["activation"]

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--simplex", default="affect_valence")
    ap.add_argument("--model", default="smollm2-135m", help="the instruct model that drafts")
    ap.add_argument("--material", default=str(HERE / "drafted_material.json"))
    ap.add_argument("--lexicon", type=int, default=100)
    ap.add_argument("--situations", type=int, default=60)
    ap.add_argument("--max-rounds", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-dir", default=".cache/activations")
    ap.add_argument("--out", default=str(HERE / "drafted.md"))
    a = ap.parse_args()
    start, bundled = time.perf_counter(), load_simplexes()
    target = get_simplex(bundled, a.simplex)
    model, tokenizer = load_model(a.model)
    drafted = draft_material([bare(target)], a.material, generator(model, tokenizer, max_new_tokens=300),
                             a.lexicon, a.situations, max_rounds=a.max_rounds, seed=a.seed)[0]
    drafting = time.perf_counter() - start
    hand = [pole_pool(bundled, target, p, seed=a.seed) for p in POLE_NAMES]
    banned = {e.casefold() for pool in hand for e in pool.holdout_entries}
    banned |= {e.casefold() for s in bundled if s.dimension != a.simplex for p in s.poles.values()
               for e in p.lexicon + p.situations}
    kept = without(drafted, banned)
    mixed = [kept if s.dimension == a.simplex else s for s in bundled]
    rows, errors = [], []
    source = ModelActivations(RunOptions(layer=12, cache_dir=a.cache_dir), progress=False)
    for name, hand_pool in zip(POLE_NAMES, hand):
        try: own = pole_pool(mixed, kept, name, seed=a.seed, holdout_size=0)
        except ValueError as e: errors.append(str(e)); own = None
        pools = [hand_pool] + ([own] if own else [])
        index, acts = pools_activations(pools, source)
        hand_arrays = pool_arrays(hand_pool, index, acts)
        held = {k: v for k, v in hand_arrays.items() if k.startswith("holdout_")}
        results = {"hand-written": train(hand_arrays, a.seed)}
        if own: results["drafted"] = train(pool_arrays(own, index, acts) | held, a.seed)
        pole = kept.poles[name]
        rows.append({"pole": name, "drafted_lexicon": len(drafted.poles[name].lexicon),
                     "drafted_situations": len(drafted.poles[name].situations), "kept_lexicon": len(pole.lexicon),
                     "kept_situations": len(pole.situations),
                     **{f"{k} {m}": r["holdout"][m] for k, r in results.items() for m in ("f1", "calibration")}})
    cols = ["pole", "drafted_lexicon", "drafted_situations", "kept_lexicon", "kept_situations", "hand-written f1",
            "drafted f1", "hand-written calibration", "drafted calibration"]
    cell = lambda v: "–" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(cols) + " |", "|---" * len(cols) + "|"]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in cols) + " |" for r in rows]
    text = (f"## Drafted against hand-written material ({a.simplex}; drafted by {model_id(model)} from labels and "
            f"definitions alone; lenses on the embedded model, layer 12, exponential, seed {a.seed}; all graded on the "
            f"hand-written holdout)\n\n" + "\n".join(lines) + "\n\n"
            + "".join(f"Could not build a pool from the drafted material: {e}\n\n" for e in errors)
            + f"Drafting {drafting:.0f} s; total {time.perf_counter() - start:.0f} s.\n")
    Path(a.out).write_text(text)
    Path(a.out).with_suffix(".json").write_text(json.dumps({"rows": rows, "errors": errors}, indent=1) + "\n")
    print(text)

if __name__ == "__main__":
    main()
