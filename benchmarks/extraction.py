"""Extraction benchmark: the naive way vs `extract_activations` in float32 and bfloat16 vs a warm `ActivationCache`.

Same 640 prompts, the embedded default model (SmolLM2-135M-Instruct), layer 12, mean pooling. Each dtype's compute
bound is a large `torch.matmul` in that dtype, measured in the same run. Writes a markdown report (default
benchmarks/extraction.md) and prints it.

    .venv/bin/python benchmarks/extraction.py [--out benchmarks/extraction.md] [--n 640] [--batch-size 32]
"""
import argparse, os, platform, random, sys, tempfile, time
from pathlib import Path

import numpy as np
import torch
import transformers

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout, installed or not
from hatcat_stier.activations import (ActivationCache, ForwardCounter, dtype_choice, extract_activations, load_model,
                                      max_tokens, num_layers, tokenize)

LAYER, MATMUL_N, ROUNDS = 12, 2048, 5
DTYPES = ("float32", "bfloat16")
TEMPLATES = ("Describe a time when {who} felt {w}.", "Why might {who} feel {w} after a long day?",
             "Write one sentence about {who} feeling {w} at work.",
             "What does {who} do when feeling {w} in a difficult conversation?",
             "Tell a short story in which {who} becomes {w} on a rainy morning.",
             "Is it normal for {who} to feel {w} around strangers?",
             "Explain what makes {who} {w} during the holidays.",
             "Imagine {who} is {w} while reading an old letter. What happens next?")
WHO = ("you", "a friend", "your neighbour", "the new teacher")
WORDS = ("happy", "sad", "angry", "calm", "anxious", "proud", "ashamed", "hopeful", "lonely", "grateful", "jealous",
         "curious", "bored", "excited", "afraid", "relieved", "guilty", "confident", "nervous", "content")


def make_prompts(n:int, seed:int=0)->list:
    "`n` distinct short prompts (up to 640): template x person x feeling, in a seeded random order."
    prompts = [t.format(who=who, w=w) for t in TEMPLATES for who in WHO for w in WORDS]
    if n > len(prompts): raise ValueError(f"at most {len(prompts)} distinct prompts, got n={n}")
    random.Random(seed).shuffle(prompts)
    return prompts[:n]


def timed(f, reps:int=1):
    "Result of `f()` and its median wall time over `reps` calls."
    times = []
    for _ in range(reps):
        start = time.perf_counter(); out = f(); times.append(time.perf_counter() - start)
    return out, float(np.median(times))


def cpu_name()->str:
    info = Path("/proc/cpuinfo")
    names = ([l.split(":", 1)[1].strip() for l in info.read_text().splitlines() if l.startswith("model name")]
             if info.exists() else [])
    return names[0] if names else platform.processor() or platform.machine()


def matmul_gflops(dtype:str, n:int=MATMUL_N, reps:int=10)->float:
    "Best throughput of one large n x n matmul in `dtype` on this machine, GFLOP/s."
    a, b = torch.randn(n, n, dtype=getattr(torch, dtype)), torch.randn(n, n, dtype=getattr(torch, dtype))
    torch.matmul(a, b)
    return max(2 * n**3 / timed(lambda: torch.matmul(a, b))[1] for _ in range(reps)) / 1e9


def forward_flops(model, lengths, layer:int, lm_head:bool=False)->float:
    "Matmul FLOPs of a forward pass through `layer` blocks: 2 x block params per token, plus QK^T and AV."
    cfg = model.config
    block_params = sum(p.numel() for b in model.model.layers[:layer] for p in b.parameters())
    attn_dim = cfg.num_attention_heads * getattr(cfg, "head_dim", cfg.hidden_size // cfg.num_attention_heads)
    lengths = np.asarray(lengths, dtype=float)
    flops = 2 * block_params * lengths.sum() + layer * 4 * attn_dim * (lengths ** 2).sum()
    return flops + (2 * cfg.vocab_size * cfg.hidden_size * lengths.sum() if lm_head else 0)


def naive(model, tokenizer, prompts):
    "The reference way: one prompt at a time through the full model, every hidden state returned."
    rows = []
    with torch.inference_mode():
        for p in prompts:
            out = model(**tokenizer(p, return_tensors="pt"), output_hidden_states=True)
            rows.append(out.hidden_states[LAYER][0].mean(0).numpy())
    return np.stack(rows)


def cosines(a, b)->np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def main(out:Path, n:int, batch_size:int):
    load_before = os.getloadavg()
    loaded = {d: timed(lambda: load_model(dtype=d)) for d in DTYPES}
    (model, tokenizer), load_s = loaded["float32"]
    prompts = make_prompts(n)
    lengths = [len(i) for i in tokenize(tokenizer, prompts, max_tokens(model, tokenizer))]
    gflops = {d: matmul_gflops(d) for d in DTYPES}

    # naive chunks interleaved with full cold runs in each dtype, so that all see the same share of the (shared) cores
    slow, naive_times, cold_times, fast = [], [], {d: [] for d in DTYPES}, {}
    for chunk in np.array_split(np.array(prompts), ROUNDS):
        rows, t = timed(lambda: naive(model, tokenizer, list(chunk)))
        slow.append(rows); naive_times.append(t)
        for d, ((m, tok), _) in loaded.items():
            fast[d], t = timed(lambda: extract_activations(m, tok, prompts, layer_idx=LAYER, batch_size=batch_size))
            cold_times[d].append(t)
    slow, naive_s = np.concatenate(slow), sum(naive_times)
    cold_s = {d: float(np.median(t)) for d, t in cold_times.items()}
    default = str(dtype_choice("cpu")[1]).removeprefix("torch.")
    (m, tok), _ = loaded[default]
    with tempfile.TemporaryDirectory() as folder:
        fill = lambda: ActivationCache(folder).extract(m, tok, prompts, layer_idx=LAYER, batch_size=batch_size)
        filled, fill_s = timed(fill)
        with ForwardCounter(m) as fwd:  # a new cache object each time: rows come from disk, not memory
            warm, warm_s = timed(lambda: ActivationCache(folder).extract(m, tok, prompts, layer_idx=LAYER), 3)
    assert fwd.n == 0, f"warm cache ran {fwd.n} prompts through the model"
    gflops = {d: max(g, matmul_gflops(d)) for d, g in gflops.items()}  # best of before and after: others may share
    load_after = os.getloadavg()
    assert np.array_equal(filled, warm)
    diff, scale = float(np.abs(slow - fast["float32"]).max()), float(np.abs(slow).max())
    agree = cosines(fast["bfloat16"], fast["float32"])

    # padding tokens the batches really computed, with prompts sorted by length as extract_activations does
    order = sorted(lengths, reverse=True)
    padded = [max(order[s:s + batch_size]) for s in range(0, n, batch_size) for _ in order[s:s + batch_size]]
    flops = forward_flops(model, lengths, LAYER)
    bound_s = {d: flops / (g * 1e9) for d, g in gflops.items()}
    naive_flops = forward_flops(model, lengths, num_layers(model), lm_head=True)
    rate = lambda s: n / s
    rows = [("naive: one prompt at a time, full model, float32, `output_hidden_states=True`", naive_s),
            *[(f"`extract_activations` (layer {LAYER}, batch {batch_size}, cold, {d})", cold_s[d]) for d in DTYPES],
            (f"`ActivationCache.extract`, first run (extract + write, {default}: the default here)", fill_s),
            ("`ActivationCache.extract`, warm (new cache object, read from disk)", warm_s)]
    report = "\n".join([
        f"## Extraction benchmark ({n} prompts, SmolLM2-135M-Instruct, layer {LAYER}, mean pooling)", "",
        f"Machine: {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} "
        f"threads, transformers {transformers.__version__}; `dtype=None` picks {default} here "
        f"({dtype_choice('cpu')[2]}). "
        f"One-minute load average {load_before[0]:.1f} before the run and {load_after[0]:.1f} after (above the thread "
        f"count means other jobs shared the cores). Model load: {load_s:.1f} s (float32), "
        f"{loaded['bfloat16'][1]:.1f} s (bfloat16). Prompts: {np.mean(lengths):.1f} tokens on average "
        f"({min(lengths)}-{max(lengths)}). The naive run is split into {ROUNDS} chunks, each followed by a full cold "
        f"run in each dtype (cold = median of those {ROUNDS}); warm = median of 3.", "",
        "| method | seconds | prompts/s | speed-up vs naive |", "|---|---:|---:|---:|",
        *[f"| {name} | {s:.3f} | {rate(s):,.0f} | {naive_s / s:,.1f}x |" for name, s in rows], "",
        f"bfloat16 against float32: {cold_s['float32'] / cold_s['bfloat16']:.2f}x faster cold; the pooled rows agree "
        f"to a cosine of {agree.min():.5f} at worst (median {np.median(agree):.6f}) over the {n} prompts. Largest "
        f"difference between the naive rows and the float32 `extract_activations` rows: {diff:.1e}, on values up to "
        f"{scale:,.0f} (a few \"massive activation\" dimensions): {diff / scale:.0e} relative, float32 rounding.", "",
        f"Compute bound: a forward pass through {LAYER} blocks costs about {flops / 1e9:.1f} GFLOP for these prompts "
        f"(2 x {LAYER}-block parameters per token plus attention; {sum(padded) / sum(lengths) - 1:.0%} more with the "
        f"padding the length-sorted batches carry). A {MATMUL_N}x{MATMUL_N} `torch.matmul`, measured in this run:", "",
        "| dtype | matmul GFLOP/s | bound, s | cold, s | fraction of the bound |", "|---|---:|---:|---:|---:|",
        *[f"| {d} | {gflops[d]:.0f} | {bound_s[d]:.2f} | {cold_s[d]:.2f} | {bound_s[d] / cold_s[d]:.0%} |"
          for d in DTYPES],
        "", f"The naive way does {naive_flops / flops:.1f}x the work (all {num_layers(model)} blocks and the "
        "vocabulary projection), one small matrix at a time."])
    out.write_text(report + "\n")
    print(report)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_suffix(".md"), help="markdown report to write")
    parser.add_argument("--n", type=int, default=640, help="number of prompts")
    parser.add_argument("--batch-size", type=int, default=32, help="prompts per forward pass")
    args = parser.parse_args()
    main(args.out, args.n, args.batch_size)
