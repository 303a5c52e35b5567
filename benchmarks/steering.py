"""Steering with lens directions: what adding a pole's direction does to generated text, against a random control.

Trains the lenses of two simplexes with the pipeline (embedded model, layer 12, activations cached), then on 40
neutral prompts generates 24 greedy tokens per prompt while adding `strength x unit direction` at the lens's
layer: the positive pole's direction of each simplex, and a random unit direction as a control, at strengths of
both signs and 0. Strengths are multiples of the spread (standard deviation) of per-token projections on the
direction, measured on the prompts themselves. The continuations are then read *without* steering: each pole's
lens on the mean-pooled continuation (as the lenses were trained), the share whose dominant pole differs from the
unsteered continuation of the same prompt, and the fluency cost: the mean log-probability per token of the
continuation under the unsteered model.

    .venv/bin/python benchmarks/steering.py [--cache-dir .cache/activations] [--out benchmarks/steering.md]
"""
import argparse, sys, time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout, installed or not
from hatcat_stier.activations import extract_activations, load_model, pad_batch
from hatcat_stier.options import RunOptions
from hatcat_stier.pipeline import train_s_tier_simplexes
from hatcat_stier.reading import tokenize
from hatcat_stier.simplexes import POLE_NAMES, get_simplex, load_simplexes
from hatcat_stier.use import Direction, SimplexFrame, load_lenses, read_states, steer

SIMPLEXES = ("affect_valence", "threat_perception")
MULTIPLES = (-8, -4, 0, 4, 8)  # strength in spreads of the per-token projection
NEW_TOKENS = 24

SUBJECTS = ["The meeting", "The train", "My neighbour", "The report", "The weather", "The kitchen", "The library",
            "Our team", "The museum", "The bus", "The garden", "The new policy", "The committee", "The bridge",
            "The printer", "The afternoon", "The store", "The package", "The lecture", "The road"]
PREDICATES = ["this morning was", "yesterday seemed"]
PROMPTS = [f"{s} {p}" for p in PREDICATES for s in SUBJECTS]  # 40 neutral openings

def generate(model, tokenizer, prompts, directions=None, strength=0.0):
    "Greedy continuations (token id lists) of `prompts`, in one left-padded batch, steered while generating."
    tokenizer.padding_side = "left"
    batch = tokenizer(prompts, return_tensors="pt", padding=True)
    with torch.inference_mode(), steer(model, directions if strength else (), strength):
        out = model.generate(**batch, max_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    new = out[:, batch.input_ids.shape[1]:].tolist()
    eos = tokenizer.eos_token_id
    return [ids[:ids.index(eos)] if eos in ids else ids for ids in new]

def fluency(model, tokenizer, prompts, continuations):
    "Mean log-probability per token of each continuation given its prompt, under the unsteered model."
    heads = tokenize(tokenizer, prompts)
    input_ids, mask = pad_batch([h + c for h, c in zip(heads, continuations)], tokenizer.pad_token_id, model.device)
    with torch.inference_mode():
        logp = torch.log_softmax(model(input_ids=input_ids, attention_mask=mask).logits.float(), -1)
    out = []
    for r, (h, c) in enumerate(zip(heads, continuations)):
        pos = torch.arange(len(h), len(h) + len(c))
        out.append(float(logp[r, pos - 1, torch.tensor(c)].mean()) if c else float("nan"))
    return np.array(out)

def read_poles(model, tokenizer, texts, frame):
    "Each text's (negative, neutral, positive) probabilities from its mean-pooled state, read without steering."
    acts = extract_activations(model, tokenizer, [t or " " for t in texts], layer_idx=frame.layer)
    return 1 / (1 + np.exp(-(acts @ frame.W + frame.b).astype(np.float64)))

def spread(model, tokenizer, prompts, direction):
    "Standard deviation of the per-token projections of the prompts' states on `direction`."
    return float(np.std(np.concatenate([read_states(model, tokenizer, p, [direction.layer])[1][direction.layer]
                                        @ direction.unit for p in prompts])))

def sweep(model, tokenizer, frame, direction, unit_strength):
    "One row per (direction kind, multiple): pole scores of the continuations, flips, fluency."
    rows, base = [], None
    runs = [("lens", direction, 0)] + [(kind, d, m)
                                      for kind, d in (("lens", direction), ("random", random_like(direction)))
                                      for m in MULTIPLES if m]  # unsteered first: it is what a flip is measured from
    for kind, d, m in runs:
        cont = generate(model, tokenizer, PROMPTS, d, m * unit_strength)
        texts = [tokenizer.decode(c, skip_special_tokens=True) for c in cont]
        probs = read_poles(model, tokenizer, texts, frame)
        if base is None: base = probs.argmax(1)
        rows.append({"kind": kind, "multiple": m, "strength": m * unit_strength, "neg": probs[:, 0].mean(),
                     "neu": probs[:, 1].mean(), "pos": probs[:, 2].mean(),
                     "flip": float((probs.argmax(1) != base).mean()),
                     "to_pos": float((probs.argmax(1) == 2).mean()), "to_neg": float((probs.argmax(1) == 0).mean()),
                     "logp": float(np.nanmean(fluency(model, tokenizer, PROMPTS, cont))), "example": texts[0]})
        print({k: v for k, v in rows[-1].items() if k != "example"}, repr(texts[0]), flush=True)
    return sorted(rows, key=lambda r: (r["kind"] != "lens", r["multiple"]))

def random_like(direction, seed=0):
    v = np.random.default_rng(seed).normal(size=direction.unit.shape).astype(np.float32)
    return Direction(v / np.linalg.norm(v), np.float32(1), np.float32(0), direction.layer)

def table(dimension, rows, unit_strength):
    lines = [f"### {dimension}: positive pole direction vs random direction (1 spread = {unit_strength:.2f})", "",
             "| direction | strength (spreads) | mean P(negative) | mean P(neutral) | mean P(positive) "
             "| dominant pole flipped | dominant: negative / positive | fluency (mean log-prob per token) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['kind']} | {r['multiple']:+d} | {r['neg']:.3f} | {r['neu']:.3f} | {r['pos']:.3f} "
              f"| {r['flip']:.0%} | {r['to_neg']:.0%} / {r['to_pos']:.0%} | {r['logp']:.2f} |" for r in rows]
    lines += ["", f"First prompt, \"{PROMPTS[0]}\", continued:", ""]
    lines += [f"- {r['kind']} {r['multiple']:+d}: {r['example'].strip()!r}" for r in rows if r["kind"] == "lens"]
    return "\n".join(lines)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache-dir", default=".cache/activations")
    ap.add_argument("--run-dir", default=".cache/steering_run")
    ap.add_argument("--out", default=str(Path(__file__).with_name("steering.md")))
    a = ap.parse_args()
    torch.manual_seed(0)
    start = time.perf_counter()
    model, tokenizer = load_model()
    simplexes = load_simplexes()
    options = RunOptions(layer=12, cache_dir=a.cache_dir)  # one layer: a strength is one number at one place
    train_s_tier_simplexes([get_simplex(simplexes, d) for d in SIMPLEXES], options, a.run_dir, model=model,
                           tokenizer=tokenizer, progress=False)
    lenses = load_lenses(a.run_dir)
    sections = []
    for dimension in SIMPLEXES:
        frame, direction = SimplexFrame.of(lenses, dimension), lenses[dimension, "positive_pole"]
        unit_strength = spread(model, tokenizer, PROMPTS, direction)
        rows = sweep(model, tokenizer, frame, direction, unit_strength)
        sections.append(table(dimension, rows, unit_strength))
        print(sections[-1], flush=True)
    head = (f"## Steering with lens directions ({len(PROMPTS)} neutral prompts, {NEW_TOKENS} greedy tokens, "
            f"embedded model, layer {direction.layer}, lenses: exponential strategy, 640-prompt pools, seed 0; "
            f"{time.perf_counter() - start:.0f} s on this machine)")
    Path(a.out).write_text(head + "\n\n" + "\n\n".join(sections) + "\n")

if __name__ == "__main__":
    main()
