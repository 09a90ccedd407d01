"""Golden fixtures for llmforge's GPT, made with PyTorch (llm.c test_gpt2 style).

Builds the model of peers/torch_gpt_bench.py (pre-LayerNorm blocks, fused qkv Linear with
bias, GELU(tanh) MLP x4, learned positions, tied head) at a tiny size with fixed seeded
weights, runs forward + backward in float64 on float32-rounded weights, and writes into
test/fixtures/gpt2_golden/:
  model/model.safetensors + model/config.json  the weights in Hugging Face GPT-2 names/layout
  golden.safetensors  tokens, targets, logits, loss and grad.<hf name> for every weight,
                      with __metadata__ format=llmforge-gpt2-golden, version=1
and the same for a llama-flavour model under llama/ (written the way Hugging Face's
LlamaForCausalLM computes: RMSNorm, rotate_half RoPE, grouped-query attention via repeat_kv,
SwiGLU, untied head), so CI checks both flavours against PyTorch without PyTorch installed.
The safetensors files are written by hand (no `safetensors` package needed).
Usage: /usr/bin/python3 scripts/make_golden.py [out_dir]
"""
import json, math, os, struct, sys
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors_io import write_safetensors

L, H, C, T, V, B = 2, 2, 16, 8, 64, 2
SEED = 20240520
FORMAT, VERSION = "llmforge-gpt2-golden", "1"
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "gpt2_golden")


class Block(nn.Module):  # as in torch_gpt_bench.py
    def __init__(s):
        super().__init__()
        s.ln1, s.ln2 = nn.LayerNorm(C), nn.LayerNorm(C)
        s.qkv, s.proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
        s.fc, s.out = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)
        s.register_buffer("mask", torch.tril(torch.ones(T, T)))

    def forward(s, x):
        b, t, c = x.shape
        q, k, v = s.qkv(s.ln1(x)).split(C, dim=2)
        q, k, v = (z.view(b, t, H, c // H).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(c // H)
        att = att.masked_fill(s.mask[:t, :t] == 0, float("-inf")).softmax(-1)
        y = att @ v
        x = x + s.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + s.out(F.gelu(s.fc(s.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(s):
        super().__init__()
        s.wte, s.wpe = nn.Embedding(V, C), nn.Embedding(T, C)
        s.blocks = nn.ModuleList(Block() for _ in range(L))
        s.lnf = nn.LayerNorm(C)

    def forward(s, idx):
        x = s.wte(idx) + s.wpe(torch.arange(idx.shape[1]))
        for blk in s.blocks:
            x = blk(x)
        return s.lnf(x) @ s.wte.weight.t()


def hf_names(m):
    """(hf name, torch tensor, conv1d-transpose?) for every parameter."""
    out = [("wte.weight", m.wte.weight, False), ("wpe.weight", m.wpe.weight, False)]
    for i, b in enumerate(m.blocks):
        p = f"h.{i}."
        out += [(p + "ln_1.weight", b.ln1.weight, False), (p + "ln_1.bias", b.ln1.bias, False)]
        for hf, lin in (("attn.c_attn", b.qkv), ("attn.c_proj", b.proj), ("mlp.c_fc", b.fc), ("mlp.c_proj", b.out)):
            out += [(p + hf + ".weight", lin.weight, True), (p + hf + ".bias", lin.bias, False)]
        out += [(p + "ln_2.weight", b.ln2.weight, False), (p + "ln_2.bias", b.ln2.bias, False)]
    out += [("ln_f.weight", m.lnf.weight, False), ("ln_f.bias", m.lnf.bias, False)]
    return out


LL = dict(L=2, H=4, Hkv=2, C=16, M=24, T=8, V=64, B=2, theta=500.0, eps=1e-5)


def llama_params():
    """HF-named llama weights (float32-representable, float64 maths), requiring grad."""
    c = LL
    D = c["C"] // c["H"]
    shapes = {"model.embed_tokens.weight": (c["V"], c["C"])}
    for i in range(c["L"]):
        p = f"model.layers.{i}."
        shapes.update({
            p + "input_layernorm.weight": (c["C"],), p + "post_attention_layernorm.weight": (c["C"],),
            p + "self_attn.q_proj.weight": (c["H"] * D, c["C"]), p + "self_attn.k_proj.weight": (c["Hkv"] * D, c["C"]),
            p + "self_attn.v_proj.weight": (c["Hkv"] * D, c["C"]), p + "self_attn.o_proj.weight": (c["C"], c["H"] * D),
            p + "mlp.gate_proj.weight": (c["M"], c["C"]), p + "mlp.up_proj.weight": (c["M"], c["C"]),
            p + "mlp.down_proj.weight": (c["C"], c["M"]),
        })
    shapes["model.norm.weight"] = (c["C"],)
    shapes["lm_head.weight"] = (c["V"], c["C"])
    W = {}
    for n, sh in shapes.items():
        if n.endswith("norm.weight"):
            t = 1 + 0.1 * torch.randn(sh)
        elif n == "model.embed_tokens.weight":
            t = 0.5 * torch.randn(sh)
        else:
            t = 0.25 * torch.randn(sh)
        W[n] = t.float().double().requires_grad_(True)
    return W


def llama_forward(W, idx):
    c = LL
    H, Hkv, C = c["H"], c["Hkv"], c["C"]
    D = C // H
    B, T = idx.shape
    rms = lambda x, w: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + c["eps"]) * w
    inv_freq = 1.0 / (c["theta"] ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
    emb = torch.cat([torch.outer(torch.arange(T, dtype=torch.float64), inv_freq)] * 2, dim=-1)
    cos, sin = emb.cos(), emb.sin()
    rot = lambda x: torch.cat((-x[..., D // 2:], x[..., : D // 2]), dim=-1)
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    x = W["model.embed_tokens.weight"][idx]
    for i in range(c["L"]):
        p = f"model.layers.{i}."
        h = rms(x, W[p + "input_layernorm.weight"])
        q = (h @ W[p + "self_attn.q_proj.weight"].t()).view(B, T, H, D).transpose(1, 2)
        k = (h @ W[p + "self_attn.k_proj.weight"].t()).view(B, T, Hkv, D).transpose(1, 2)
        v = (h @ W[p + "self_attn.v_proj.weight"].t()).view(B, T, Hkv, D).transpose(1, 2)
        q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        k, v = (z.repeat_interleave(H // Hkv, dim=1) for z in (k, v))
        att = ((q @ k.transpose(-2, -1)) / math.sqrt(D)).masked_fill(~mask, float("-inf")).softmax(-1)
        x = x + (att @ v).transpose(1, 2).reshape(B, T, C) @ W[p + "self_attn.o_proj.weight"].t()
        h = rms(x, W[p + "post_attention_layernorm.weight"])
        g = F.silu(h @ W[p + "mlp.gate_proj.weight"].t()) * (h @ W[p + "mlp.up_proj.weight"].t())
        x = x + g @ W[p + "mlp.down_proj.weight"].t()
    return rms(x, W["model.norm.weight"]) @ W["lm_head.weight"].t()


def make_llama(out):
    c = LL
    W = llama_params()
    idx = torch.randint(0, c["V"], (c["B"], c["T"]))
    tgt = torch.randint(0, c["V"], (c["B"], c["T"]))
    tgt[0, 2] = -100  # an ignored position, as in padded SFT batches
    logits = llama_forward(W, idx)
    loss = F.cross_entropy(logits.view(-1, c["V"]), tgt.view(-1), ignore_index=-100)
    loss.backward()
    os.makedirs(os.path.join(out, "model"), exist_ok=True)
    write_safetensors(os.path.join(out, "model", "model.safetensors"), [(n, "F32", t) for n, t in W.items()],
                      {"format": "pt", "source": "scripts/make_golden.py"})
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
        "hidden_size": c["C"], "intermediate_size": c["M"], "num_hidden_layers": c["L"],
        "num_attention_heads": c["H"], "num_key_value_heads": c["Hkv"], "max_position_embeddings": c["T"],
        "vocab_size": c["V"], "rms_norm_eps": c["eps"], "rope_theta": c["theta"], "tie_word_embeddings": False,
        "attention_bias": False, "mlp_bias": False, "torch_dtype": "float32",
    }
    with open(os.path.join(out, "model", "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    golden = [("tokens", "I32", idx), ("targets", "I32", tgt), ("logits", "F32", logits), ("loss", "F32", loss.reshape(1))]
    golden += [("grad." + n, "F32", t.grad) for n, t in W.items()]
    meta = {"format": "llmforge-llama-golden", "version": VERSION, "torch": torch.__version__, "seed": str(SEED),
            "shape": "L{L} H{H} Hkv{Hkv} C{C} M{M} T{T} V{V} B{B}".format(**c), "dtype": "float64 maths on float32 weights"}
    write_safetensors(os.path.join(out, "golden.safetensors"), golden, meta)
    print(f"wrote {out}: loss {loss.item():.6f}")


def main():
    torch.manual_seed(SEED)
    m = GPT()
    with torch.no_grad():  # larger-than-default weights so every path carries signal
        for name, p in m.named_parameters():
            if name.endswith("ln1.weight") or name.endswith("ln2.weight") or name == "lnf.weight":
                p.copy_(1 + 0.1 * torch.randn_like(p))
            elif p.ndim == 1:
                p.copy_(0.1 * torch.randn_like(p))
            elif name in ("wte.weight", "wpe.weight"):
                p.copy_(0.5 * torch.randn_like(p))
            else:
                p.copy_(0.2 * torch.randn_like(p))
    m = m.float().double()  # weights exactly representable in float32; maths in float64
    idx = torch.randint(0, V, (B, T))
    tgt = torch.randint(0, V, (B, T))
    logits = m(idx)
    loss = F.cross_entropy(logits.view(-1, V), tgt.view(-1))
    loss.backward()

    os.makedirs(os.path.join(OUT, "model"), exist_ok=True)
    names = hf_names(m)
    meta = {"format": "pt", "source": "scripts/make_golden.py"}
    write_safetensors(os.path.join(OUT, "model", "model.safetensors"),
                      [(n, "F32", p.t() if tr else p) for n, p, tr in names], meta)
    config = {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "activation_function": "gelu_new",
        "n_layer": L, "n_head": H, "n_embd": C, "n_positions": T, "n_ctx": T, "n_inner": None,
        "vocab_size": V, "layer_norm_epsilon": 1e-5, "initializer_range": 0.02,
        "attn_pdrop": 0.0, "embd_pdrop": 0.0, "resid_pdrop": 0.0, "tie_word_embeddings": True,
        "torch_dtype": "float32",
    }
    with open(os.path.join(OUT, "model", "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    golden = [("tokens", "I32", idx), ("targets", "I32", tgt), ("logits", "F32", logits),
              ("loss", "F32", loss.reshape(1))]
    golden += [("grad." + n, "F32", p.grad.t() if tr else p.grad) for n, p, tr in names]
    gmeta = {"format": FORMAT, "version": VERSION, "torch": torch.__version__, "seed": str(SEED),
             "shape": f"L{L} H{H} C{C} T{T} V{V} B{B}", "dtype": "float64 maths on float32 weights"}
    write_safetensors(os.path.join(OUT, "golden.safetensors"), golden, gmeta)
    print(f"wrote {OUT}: loss {loss.item():.6f}, {sum(p.numel() for p in m.parameters())} params")
    make_llama(os.path.join(OUT, "llama"))


if __name__ == "__main__":
    main()
