"""PyTorch parity fixtures for llmforge's T5 (llm.c test_gpt2 style), written with plain torch.

An independent T5 (Hugging Face's T5ForConditionalGeneration maths, written out here because
transformers is not installed): shared embedding, T5 layer norm (RMS, no mean, no bias), relative
position buckets (bidirectional in the encoder, causal in the decoder, block 0's bias shared by the
other blocks), attention without 1/sqrt(d) scaling, padding mask (finfo.min added, as HF), ReLU or
gated-GELU(tanh) MLP, LM head tied with the d_model^-0.5 rescale or untied. Forward + backward in
float64 on seeded float32-representable weights; a batch with a padded encoder row and -100 labels.

Two variants, each a folder with model/model.safetensors + model/config.json (as llmforge saves a
T5: HF names and T5Config keys) and golden.safetensors (input_ids, attention_mask,
decoder_input_ids, labels, logits, loss, grad.<name> for every parameter), metadata
format=llmforge-t5-golden, version=1:
  relu/   feed_forward_proj relu, tied head, numHeads·d_kv != d_model
  gated/  feed_forward_proj gated-gelu, untied lm_head, 3 encoder / 2 decoder blocks
Safetensors written and read by hand (no extra package).
Usage: /usr/bin/python3 test/model/t5_reference.py [out_dir]
       /usr/bin/python3 test/model/t5_reference.py --read MODEL_DIR '{"input_ids": [[...]], "attention_mask": [[...]], "decoder_input_ids": [[...]]}'
         -> JSON logits of a saved T5 folder (config.json + model.safetensors) on stdout (test/model/t5.test.ts).
"""
import json, math, os, struct, sys
import torch
import torch.nn.functional as F
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from safetensors_io import write_safetensors, read_safetensors  # noqa: E402

SEED = 20240618
FORMAT, VERSION = "llmforge-t5-golden", "1"
OUT = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] != "--read" else os.path.join(os.path.dirname(__file__), "..", "fixtures", "t5_golden")


def shapes_of(cfg):
    C, inner, ff = cfg["d_model"], cfg["num_heads"] * cfg["d_kv"], cfg["d_ff"]
    gated = cfg["feed_forward_proj"] == "gated-gelu"
    s = {"shared.weight": (cfg["vocab_size"], C)}

    def attn(p, bias):
        for n in "qkv":
            s[f"{p}.{n}.weight"] = (inner, C)
        s[f"{p}.o.weight"] = (C, inner)
        if bias:
            s[f"{p}.relative_attention_bias.weight"] = (cfg["relative_attention_num_buckets"], cfg["num_heads"])

    def mlp(p):
        if gated:
            s[f"{p}.DenseReluDense.wi_0.weight"] = (ff, C)
            s[f"{p}.DenseReluDense.wi_1.weight"] = (ff, C)
        else:
            s[f"{p}.DenseReluDense.wi.weight"] = (ff, C)
        s[f"{p}.DenseReluDense.wo.weight"] = (C, ff)
        s[f"{p}.layer_norm.weight"] = (C,)

    for i in range(cfg["num_layers"]):
        attn(f"encoder.block.{i}.layer.0.SelfAttention", i == 0)
        s[f"encoder.block.{i}.layer.0.layer_norm.weight"] = (C,)
        mlp(f"encoder.block.{i}.layer.1")
    s["encoder.final_layer_norm.weight"] = (C,)
    for i in range(cfg["num_decoder_layers"]):
        attn(f"decoder.block.{i}.layer.0.SelfAttention", i == 0)
        s[f"decoder.block.{i}.layer.0.layer_norm.weight"] = (C,)
        attn(f"decoder.block.{i}.layer.1.EncDecAttention", False)
        s[f"decoder.block.{i}.layer.1.layer_norm.weight"] = (C,)
        mlp(f"decoder.block.{i}.layer.2")
    s["decoder.final_layer_norm.weight"] = (C,)
    if not cfg["tie_word_embeddings"]:
        s["lm_head.weight"] = (cfg["vocab_size"], C)
    return s


def make_weights(shapes):
    W = {}
    for n, sh in shapes.items():
        if n.endswith("layer_norm.weight"):
            t = 1 + 0.1 * torch.randn(sh)
        elif n.endswith("relative_attention_bias.weight"):
            t = 0.5 * torch.randn(sh)
        elif n == "shared.weight":
            t = torch.randn(sh)
        elif n == "lm_head.weight":
            t = 0.3 * torch.randn(sh)
        else:
            t = torch.randn(sh) / math.sqrt(sh[1])
        W[n] = t.float().double().requires_grad_(True)
    return W


def bucket(rel, bidirectional, nb, max_distance):
    """Hugging Face's T5Attention._relative_position_bucket (rel = key position - query position)."""
    out = torch.zeros_like(rel)
    if bidirectional:
        nb //= 2
        out += (rel > 0).long() * nb
        n = rel.abs()
    else:
        n = -torch.min(rel, torch.zeros_like(rel))
    max_exact = nb // 2
    is_small = n < max_exact
    large = max_exact + (torch.log(n.float() / max_exact) / math.log(max_distance / max_exact) * (nb - max_exact)).to(torch.long)
    large = torch.min(large, torch.full_like(large, nb - 1))
    return out + torch.where(is_small, n, large)


def position_bias(W, p, cfg, T, S, bidirectional):
    rel = torch.arange(S)[None, :] - torch.arange(T)[:, None]
    b = bucket(rel, bidirectional, cfg["relative_attention_num_buckets"], cfg["relative_attention_max_distance"])
    return W[f"{p}.relative_attention_bias.weight"][b].permute(2, 0, 1).unsqueeze(0)  # (1, H, T, S)


def rms(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def attention(W, p, cfg, xq, xkv, bias):
    B, T, _ = xq.shape
    S = xkv.shape[1]
    H, D = cfg["num_heads"], cfg["d_kv"]
    q = (xq @ W[f"{p}.q.weight"].t()).view(B, T, H, D).transpose(1, 2)
    k = (xkv @ W[f"{p}.k.weight"].t()).view(B, S, H, D).transpose(1, 2)
    v = (xkv @ W[f"{p}.v.weight"].t()).view(B, S, H, D).transpose(1, 2)
    scores = q @ k.transpose(-1, -2) + bias  # no 1/sqrt(D): T5 folds it into the init
    y = F.softmax(scores, dim=-1) @ v
    return y.transpose(1, 2).reshape(B, T, H * D) @ W[f"{p}.o.weight"].t()


def mlp(W, p, cfg, x):
    d = f"{p}.DenseReluDense"
    if cfg["feed_forward_proj"] == "gated-gelu":
        g = x @ W[f"{d}.wi_0.weight"].t()
        gelu_new = 0.5 * g * (1 + torch.tanh(math.sqrt(2 / math.pi) * (g + 0.044715 * g.pow(3))))
        h = gelu_new * (x @ W[f"{d}.wi_1.weight"].t())
    else:
        h = F.relu(x @ W[f"{d}.wi.weight"].t())
    return h @ W[f"{d}.wo.weight"].t()


def t5_forward(W, cfg, input_ids, attention_mask, decoder_input_ids):
    eps = cfg["layer_norm_epsilon"]
    neg = torch.finfo(torch.float64).min
    B, S = input_ids.shape
    T = decoder_input_ids.shape[1]
    ext = (1.0 - attention_mask[:, None, None, :].double()) * neg  # (B, 1, 1, S)
    x = W["shared.weight"][input_ids]
    bias = position_bias(W, "encoder.block.0.layer.0.SelfAttention", cfg, S, S, True) + ext
    for i in range(cfg["num_layers"]):
        p = f"encoder.block.{i}.layer"
        x = x + attention(W, f"{p}.0.SelfAttention", cfg, rms(x, W[f"{p}.0.layer_norm.weight"], eps), rms(x, W[f"{p}.0.layer_norm.weight"], eps), bias)
        x = x + mlp(W, f"{p}.1", cfg, rms(x, W[f"{p}.1.layer_norm.weight"], eps))
    enc = rms(x, W["encoder.final_layer_norm.weight"], eps)

    causal = torch.triu(torch.full((T, T), neg, dtype=torch.float64), diagonal=1)[None, None]
    self_bias = position_bias(W, "decoder.block.0.layer.0.SelfAttention", cfg, T, T, False) + causal
    y = W["shared.weight"][decoder_input_ids]
    for i in range(cfg["num_decoder_layers"]):
        p = f"decoder.block.{i}.layer"
        h = rms(y, W[f"{p}.0.layer_norm.weight"], eps)
        y = y + attention(W, f"{p}.0.SelfAttention", cfg, h, h, self_bias)
        y = y + attention(W, f"{p}.1.EncDecAttention", cfg, rms(y, W[f"{p}.1.layer_norm.weight"], eps), enc, ext)
        y = y + mlp(W, f"{p}.2", cfg, rms(y, W[f"{p}.2.layer_norm.weight"], eps))
    y = rms(y, W["decoder.final_layer_norm.weight"], eps)
    if cfg["tie_word_embeddings"]:
        return (y * cfg["d_model"] ** -0.5) @ W["shared.weight"].t()
    return y @ W["lm_head.weight"].t()


def hf_config(cfg):
    return {
        "architectures": ["T5ForConditionalGeneration"], "model_type": "t5", "vocab_size": cfg["vocab_size"],
        "d_model": cfg["d_model"], "d_kv": cfg["d_kv"], "d_ff": cfg["d_ff"], "num_layers": cfg["num_layers"],
        "num_decoder_layers": cfg["num_decoder_layers"], "num_heads": cfg["num_heads"],
        "relative_attention_num_buckets": cfg["relative_attention_num_buckets"],
        "relative_attention_max_distance": cfg["relative_attention_max_distance"], "dropout_rate": 0.0,
        "layer_norm_epsilon": cfg["layer_norm_epsilon"], "initializer_factor": 1.0, "feed_forward_proj": cfg["feed_forward_proj"],
        "is_encoder_decoder": True, "tie_word_embeddings": cfg["tie_word_embeddings"], "pad_token_id": 0, "eos_token_id": 1,
        "decoder_start_token_id": 0, "torch_dtype": "float32",
    }


def make(name, cfg, seed):
    torch.manual_seed(seed)
    W = make_weights(shapes_of(cfg))
    V = cfg["vocab_size"]
    B, S, T = 2, 9, 7
    input_ids = torch.randint(2, V, (B, S))
    attention_mask = torch.ones(B, S, dtype=torch.long)
    attention_mask[1, 6:] = 0
    input_ids[1, 6:] = 0  # pad id
    labels = torch.randint(2, V, (B, T))
    labels[1, 5:] = -100
    dec = torch.cat([torch.zeros(B, 1, dtype=torch.long), labels[:, :-1]], dim=1)  # HF _shift_right
    dec[dec == -100] = 0
    logits = t5_forward(W, cfg, input_ids, attention_mask, dec)
    loss = F.cross_entropy(logits.view(-1, V), labels.view(-1), ignore_index=-100)
    loss.backward()

    d = os.path.join(OUT, name)
    os.makedirs(os.path.join(d, "model"), exist_ok=True)
    write_safetensors(os.path.join(d, "model", "model.safetensors"), [(n, "F32", t) for n, t in W.items()], {"format": "pt"})
    with open(os.path.join(d, "model", "config.json"), "w") as f:
        json.dump(hf_config(cfg), f, indent=2)
        f.write("\n")
    out = [("input_ids", "I32", input_ids), ("attention_mask", "I32", attention_mask), ("decoder_input_ids", "I32", dec),
           ("labels", "I32", labels), ("logits", "F32", logits), ("loss", "F32", loss.reshape(1))]
    out += [(f"grad.{n}", "F32", t.grad) for n, t in W.items()]
    write_safetensors(os.path.join(d, "golden.safetensors"), out, {"format": FORMAT, "version": VERSION, "torch": torch.__version__})
    print(name, "loss", loss.item())


def read_back(model_dir, batch):
    """Logits of a saved folder, its config read the way transformers' T5Config reads it."""
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    cfg.setdefault("num_decoder_layers", cfg["num_layers"])
    cfg.setdefault("tie_word_embeddings", True)
    cfg.setdefault("feed_forward_proj", "relu")
    W = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    expected = set(shapes_of(cfg))
    if set(W) != expected:
        raise SystemExit(f"tensor names differ from Hugging Face T5's: extra {sorted(set(W) - expected)}, missing {sorted(expected - set(W))}")
    b = json.loads(batch)
    with torch.no_grad():
        logits = t5_forward(W, cfg, torch.tensor(b["input_ids"]), torch.tensor(b["attention_mask"]), torch.tensor(b["decoder_input_ids"]))
    print(json.dumps(logits.reshape(-1).tolist()))


BASE = {
    "vocab_size": 40, "d_model": 16, "d_kv": 6, "num_heads": 3, "d_ff": 24, "num_layers": 2, "num_decoder_layers": 2,
    "relative_attention_num_buckets": 8, "relative_attention_max_distance": 12, "layer_norm_epsilon": 1e-6,
}
if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--read":
        read_back(sys.argv[2], sys.argv[3])
    else:
        make("relu", {**BASE, "feed_forward_proj": "relu", "tie_word_embeddings": True}, SEED)
        make("gated", {**BASE, "d_kv": 4, "num_heads": 4, "num_layers": 3, "feed_forward_proj": "gated-gelu", "tie_word_embeddings": False}, SEED + 1)
