"""Independent PyTorch forward of a saved llmforge model folder, written the way Hugging Face
transformers defines GPT2LMHeadModel and LlamaForCausalLM (Conv1D weights, gelu_new;
RMSNorm, rotate_half RoPE, repeat_kv GQA, SwiGLU), reading model.safetensors by hand and
config.json. Used by test/model/hf.test.ts when /usr/bin/python3 has torch (the test skips
otherwise). Usage: python3 hf_reference.py MODEL_DIR '[[ids...], ...]'  -> JSON logits on stdout.
"""
import json, math, os, struct, sys
import torch
import torch.nn.functional as F
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from safetensors_io import read_safetensors as load_safetensors  # noqa: E402


def gpt2(cfg, W, idx):
    C, H = cfg["n_embd"], cfg["n_head"]
    eps = cfg["layer_norm_epsilon"]
    B, T = idx.shape
    ln = lambda x, p: F.layer_norm(x, (C,), W[p + ".weight"], W[p + ".bias"], eps)
    conv = lambda x, p: x @ W[p + ".weight"] + W[p + ".bias"]  # Conv1D: weight (in, out)
    x = W["wte.weight"][idx] + W["wpe.weight"][torch.arange(T)]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for i in range(cfg["n_layer"]):
        p = f"h.{i}."
        q, k, v = conv(ln(x, p + "ln_1"), p + "attn.c_attn").split(C, dim=2)
        q, k, v = (z.view(B, T, H, C // H).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // H)
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + conv(y, p + "attn.c_proj")
        h = conv(ln(x, p + "ln_2"), p + "mlp.c_fc")
        x = x + conv(F.gelu(h, approximate="tanh"), p + "mlp.c_proj")
    x = ln(x, "ln_f")
    head = W["lm_head.weight"] if not cfg.get("tie_word_embeddings", True) else W["wte.weight"]
    return x @ head.t()


def llama(cfg, W, idx):
    C, H = cfg["hidden_size"], cfg["num_attention_heads"]
    Hkv = cfg.get("num_key_value_heads", H)
    D = C // H
    eps, theta = cfg["rms_norm_eps"], cfg.get("rope_theta", 10000.0)
    B, T = idx.shape

    def rms(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w

    def lin(x, p):
        y = x @ W[p + ".weight"].t()
        return y + W[p + ".bias"] if p + ".bias" in W else y

    inv_freq = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
    freqs = torch.outer(torch.arange(T, dtype=torch.float64), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    rot = lambda x: torch.cat((-x[..., D // 2:], x[..., : D // 2]), dim=-1)  # rotate_half
    x = W["model.embed_tokens.weight"][idx]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms(x, W[p + "input_layernorm.weight"])
        q = lin(h, p + "self_attn.q_proj").view(B, T, H, D).transpose(1, 2)
        k = lin(h, p + "self_attn.k_proj").view(B, T, Hkv, D).transpose(1, 2)
        v = lin(h, p + "self_attn.v_proj").view(B, T, Hkv, D).transpose(1, 2)
        q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        k, v = (z.repeat_interleave(H // Hkv, dim=1) for z in (k, v))  # repeat_kv
        att = (q @ k.transpose(-2, -1)) / math.sqrt(D)
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + lin(y, p + "self_attn.o_proj")
        h = rms(x, W[p + "post_attention_layernorm.weight"])
        x = x + lin(F.silu(lin(h, p + "mlp.gate_proj")) * lin(h, p + "mlp.up_proj"), p + "mlp.down_proj")
    x = rms(x, W["model.norm.weight"])
    head = W["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings", False) else W["lm_head.weight"]
    return x @ head.t()


def main():
    d = sys.argv[1]
    idx = torch.tensor(json.loads(sys.argv[2]), dtype=torch.long)
    cfg = json.load(open(d + "/config.json"))
    W = load_safetensors(d + "/model.safetensors")
    fwd = {"gpt2": gpt2, "llama": llama}[cfg["model_type"]]
    with torch.no_grad():
        logits = fwd(cfg, W, idx)
    print(json.dumps(logits.tolist()))


if __name__ == "__main__":
    main()
