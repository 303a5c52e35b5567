"""Every architecture a researcher brings, as a tiny random-weight model built from its config (nothing downloads):
its rows equal its own hidden states, the monitor reads every generated token, steering moves the next token and lets
go exactly, and the GGUF export runs where llama.cpp applies control vectors and is refused where it does not."""
import numpy as np, pytest, torch, transformers
from transformers import AutoConfig, AutoModelForCausalLM

from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from hatcat_stier.activations import (
    ForwardCounter, extract_activations, model_layout, num_layers, pad_batch, pool, reference_hidden_states)
from hatcat_stier.reading import POOLINGS, tokenize
from hatcat_stier.use import (
    Direction, SimplexFrame, export_control_vector, monitor_generate, read_control_gguf, steer)

transformers.logging.set_verbosity_error()  # tiny configs trip warnings meant for real checkpoints

# (model_type, where its blocks live, whether llama.cpp applies control vectors to it): the README's table
ARCHITECTURES = [
    ("llama", "model.layers", True), ("mistral", "model.layers", True), ("mixtral", "model.layers", True),
    ("qwen2", "model.layers", True), ("qwen2_moe", "model.layers", True), ("qwen3", "model.layers", True),
    ("phi", "model.layers", True), ("phi3", "model.layers", True), ("gemma", "model.layers", True),
    ("gemma2", "model.layers", True), ("gemma3_text", "model.layers", True), ("olmo2", "model.layers", True),
    ("granite", "model.layers", True), ("starcoder2", "model.layers", True), ("stablelm", "model.layers", True),
    ("cohere", "model.layers", True), ("llama4_text", "model.layers", True), ("gpt2", "transformer.h", True),
    ("gptj", "transformer.h", False), ("falcon", "transformer.h", True), ("bloom", "transformer.h", True),
    ("gpt_neox", "gpt_neox.layers", True), ("opt", "model.decoder.layers", False),
    ("mamba", "backbone.layers", True), ("falcon_mamba", "backbone.layers", True), ("mamba2", "backbone.layers", True)]
SMALL = dict(hidden_size=64, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, intermediate_size=128,
             max_position_embeddings=256)
MOE = dict(num_local_experts=4, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
           shared_expert_intermediate_size=64)
EXTRA = {"mixtral": MOE, "qwen2_moe": MOE, "gemma": dict(head_dim=16), "gemma2": dict(head_dim=16),
         "gemma3_text": dict(head_dim=16, sliding_window=4),  # a window shorter than the prompts: it matters
         "llama4_text": dict(num_local_experts=2, intermediate_size_mlp=128, head_dim=16, attention_chunk_size=8),
         "phi": dict(partial_rotary_factor=0.5), "gptj": dict(rotary_dim=8),
         "falcon": dict(new_decoder_architecture=True),
         "mamba": dict(state_size=8), "falcon_mamba": dict(state_size=8),
         "mamba2": dict(num_heads=8, head_dim=16, state_size=16, n_groups=1, chunk_size=16)}
PROMPTS = ["I feel calm.", "", "The meeting ran late and everyone was tired, but the news at the end made us laugh.",
           "Rain again today?"]  # lengths 1 to 20 tokens in one batch: padding matters

@pytest.fixture(scope="module")
def tok():
    "A word-level tokenizer of the prompts' words, built here: a real vocabulary's output layer would dominate."
    split = pre_tokenizers.Whitespace().pre_tokenize_str
    words = sorted({w for p in PROMPTS + ["I feel calm and"] for w, _ in split(p)})
    vocab = {w: i for i, w in enumerate(["[PAD]", "[BOS]", "[EOS]", "[UNK]", *words])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]", bos_token="[BOS]", eos_token="[EOS]",
                                   unk_token="[UNK]")

def build(model_type:str, tok):
    "A random four-block model of `model_type`, hidden size 64, for `tok`'s vocabulary."
    ids = dict(vocab_size=len(tok), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
               pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    config = AutoConfig.for_model(model_type, **SMALL, **ids, **EXTRA.get(model_type, {}))
    return AutoModelForCausalLM.from_config(config).eval()

@pytest.fixture(scope="module", params=ARCHITECTURES, ids=lambda a: a[0])
def arch(request, tok):
    "(model_type, blocks path, GGUF supported, model), the model built once for every test of its type."
    model_type, path, gguf = request.param
    return model_type, path, gguf, build(model_type, tok)

def direction(model, layer, seed=0, offset=0.0)->Direction:
    "A random unit direction of `model`'s residual stream at `layer` (or layers)."
    layers = layer if isinstance(layer, tuple) else (layer,)
    unit = np.random.default_rng(seed).normal(size=(len(layers), model.config.get_text_config().hidden_size))
    unit = (unit / np.linalg.norm(unit)).astype(np.float32)
    return Direction(unit if len(layers) > 1 else unit[0], np.float32(1.0), np.float32(offset), layer)

def test_rows_equal_the_models_own_hidden_states(arch, tok):
    "Right-padded batches give each prompt's unpadded states, and the model's own pass over the same batch."
    model_type, path, _, model = arch
    assert model_layout(model).path == path
    ids, n = tokenize(tok, PROMPTS), num_layers(model)
    input_ids, mask = pad_batch(ids, tok.pad_token_id, "cpu")
    with torch.inference_mode():
        alone = [reference_hidden_states(model, torch.tensor([i])) for i in ids]  # no padding at all
        batch = reference_hidden_states(model, input_ids, mask)
    for pooling, layers in ((p, l) for p in POOLINGS for l in (2, [0, 1, 3, n])):
        got = extract_activations(model, tok, PROMPTS, layer_idx=layers, pooling=pooling)
        for l, rows in (got.items() if isinstance(got, dict) else [(layers, got)]):
            unpadded = np.stack([pool(a[l], torch.ones(1, len(i)), pooling)[0].numpy() for a, i in zip(alone, ids)])
            np.testing.assert_allclose(rows, unpadded, rtol=1e-5, atol=1e-5, err_msg=f"{model_type} {pooling} {l}")
            np.testing.assert_allclose(rows, pool(batch[l], mask, pooling).numpy(), rtol=1e-5, atol=1e-5)

def test_the_monitor_reads_every_generated_token(arch, tok):
    "Per-token log-odds recorded while generating equal those of one full pass over prompt and continuation."
    model_type, _, _, model = arch
    n, prompt = num_layers(model), tokenize(tok, ["I feel calm and"])[0]
    lenses = {"mid": direction(model, 2), "last": direction(model, n, seed=1), "both": direction(model, (1, n), 2)}
    greedy = dict(max_new_tokens=5, min_new_tokens=5)
    _, reading = monitor_generate(model, tok, "I feel calm and", lenses, **greedy)
    with torch.inference_mode():
        ids = torch.tensor([prompt])
        out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, pad_token_id=tok.pad_token_id,
                             max_new_tokens=6, min_new_tokens=6)
        states = reference_hidden_states(model, out[:, :len(prompt) + 5])
    assert len(reading.tokens) == len(prompt) + 5
    for key, d in lenses.items():
        truth = d.decision({l: states[l][0].numpy() for l in d.layers})
        np.testing.assert_allclose(reading.logits[key], truth, rtol=1e-4, atol=1e-4, err_msg=f"{model_type} {key}")

def test_steering_moves_the_next_token_and_lets_go_exactly(arch, tok):
    "A direction and a homeostat (over two layers) change the next-token logits; after the block, nothing does."
    model_type, _, _, model = arch
    n, ids = num_layers(model), torch.tensor([tokenize(tok, ["I feel calm and"])[0]])
    frame = SimplexFrame([direction(model, (1, n), seed, offset) for seed, offset in ((3, 5.0), (4, -5.0), (5, 5.0))])
    with torch.inference_mode():
        before = model(ids).logits[0, -1]
        with steer(model, direction(model, 2), strength=8.0): pushed = model(ids).logits[0, -1]
        with steer(model, homeostat=frame): held = model(ids).logits[0, -1]
        after = model(ids).logits[0, -1]
    assert (pushed - before).abs().max() > 1e-4, model_type
    assert (held - before).abs().max() > 1e-4, model_type
    assert torch.equal(after, before), model_type

def test_gguf_export_where_llama_cpp_applies_control_vectors(arch, tmp_path):
    "Written and read back where llama.cpp applies control vectors; refused, with no file written, where not."
    model_type, _, gguf, model = arch
    lenses, out = {("toy_mood", "positive_pole"): direction(model, 2)}, tmp_path / "export"
    if not gguf:
        with pytest.raises(ValueError, match=f"model_type '{model_type}'"):
            export_control_vector(lenses, out, model=model)
        assert not out.exists()
        return
    export_control_vector(lenses, out, strength=2.0, model=model)
    hint, vectors = read_control_gguf(out / "toy_mood.positive_pole.gguf")
    assert (hint, list(vectors)) == (model_type, [2])
    np.testing.assert_array_equal(vectors[2], np.float32(2.0) * lenses["toy_mood", "positive_pole"].unit)

def test_an_unreadable_layout_is_refused_before_any_work(arch, tok):
    "Blocks that are not where the config says: every entry point refuses, naming the architecture, and runs nothing."
    model_type, path, _, model = arch
    blocks = model_layout(model).blocks
    owner = model.get_submodule(path.rpartition(".")[0])
    setattr(owner, path.rpartition(".")[2], torch.nn.ModuleList(blocks[:-1]))  # one block short of the config
    try:
        with ForwardCounter(model) as ran:
            for attempt in (lambda: extract_activations(model, tok, PROMPTS, layer_idx=1),
                            lambda: steer(model, direction(model, 2)).__enter__(),
                            lambda: monitor_generate(model, tok, "I feel", {"mid": direction(model, 2)})):
                with pytest.raises(ValueError, match=f"model_type '{model_type}'"): attempt()
        assert ran.n == 0
    finally: setattr(owner, path.rpartition(".")[2], blocks)

def test_left_padding_is_not_exact_for_absolute_positions(tok):
    "Why extraction pads on the right: GPT-2's own left-padded pass shifts its positions; right padding does not."
    model = build("gpt2", tok)
    ids = tokenize(tok, PROMPTS[:1] + PROMPTS[2:3])
    left = tok.pad({"input_ids": ids}, padding_side="left", return_tensors="pt")
    with torch.inference_mode():
        alone = reference_hidden_states(model, torch.tensor([ids[0]]))[2][0]
        shifted = reference_hidden_states(model, left.input_ids, left.attention_mask)[2][0, -len(ids[0]):]
    assert (shifted - alone).abs().max() > 1e-2
    np.testing.assert_allclose(extract_activations(model, tok, PROMPTS[:1] + PROMPTS[2:3], layer_idx=2)[0],
                               alone.mean(0).numpy(), rtol=1e-5, atol=1e-5)

@pytest.mark.parametrize("model_type", ["mamba", "falcon_mamba"])
def test_mamba_counts_its_layers_from_the_embeddings(model_type, tok):
    "transformers' Mamba tuple starts after block 1; extraction's layer L is block L's output, as everywhere else."
    model = build(model_type, tok)
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    with torch.inference_mode():
        own = model(ids, output_hidden_states=True).hidden_states
        first = model_layout(model).blocks[0](model.get_input_embeddings()(ids))
    torch.testing.assert_close(own[0], first[0] if isinstance(first, tuple) else first)
    torch.testing.assert_close(reference_hidden_states(model, ids)[1], own[0])
