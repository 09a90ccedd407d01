"""PyTorch parity fixtures for llmforge's mixture-of-experts GPT (llm.c test_gpt2 style).

Two tiny models with seeded float32-representable weights, forward + backward in float64:
  llama/  Mixtral (transformers' MixtralForCausalLM maths, written out here): RMSNorm, RoPE, GQA,
          a sparse MoE block in every layer: router `block_sparse_moe.gate`, softmax over experts,
          top-k, the k weights renormalised, experts w2(silu(w1 x) * w3 x), index_add back.
  gpt2/   llmforge's gpt2-flavour MoE (llmforge's own tensor names, no HF equivalent): layer 0 dense,
          layer 1 MoE (moeEvery 2) with GELU(tanh) experts with biases, a shared expert, top-k
          weights NOT renormalised.
The loss is cross-entropy + mean over MoE layers of (aux_coef * lb + z_coef * z), where
lb = E * sum_e f_e * P_e (f_e: share of tokens with e among their top k, P_e: mean router
probability; transformers' load_balancing_loss_func for one layer) and z = mean(logsumexp(logits)^2).
Each folder gets model/model.safetensors + model/config.json (as llmforge saves them) and
golden.safetensors (tokens, targets, logits, ce, aux, loss, grad.<name>), metadata
format=llmforge-moe-golden, version=1. Safetensors written by hand (no extra package).
Usage: /usr/bin/python3 scripts/make_moe_fixture.py [out_dir]
"""
import json, math, os, struct, sys
import torch
import torch.nn.functional as F
from safetensors_io import write_safetensors

SEED = 20240607
FORMAT, VERSION = "llmforge-moe-golden", "1"
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "moe_golden")


def make_weights(shapes):
    W = {}
    for n, sh in shapes.items():
        if n.endswith("norm.weight") or n.endswith("ln_1.weight") or n.endswith("ln_2.weight") or n == "ln_f.weight":
            t = 1 + 0.1 * torch.randn(sh)
        elif len(sh) == 1:
            t = 0.1 * torch.randn(sh)
        elif n in ("model.embed_tokens.weight", "wte.weight", "wpe.weight"):
            t = 0.5 * torch.randn(sh)
        elif n.endswith("gate.weight") or n.endswith("router.weight"):
            t = 0.6 * torch.randn(sh)  # routers with clear preferences: no near-ties in the top k
        else:
            t = 0.25 * torch.randn(sh)
        W[n] = t.float().double().requires_grad_(True)
    return W


def route(logits, k, renorm):
    """Mixtral routing: softmax over experts, top-k, optional renormalisation. -> weights (N,k), experts (N,k), probs."""
    probs = F.softmax(logits, dim=-1)
    w, sel = torch.topk(probs, k, dim=-1)
    if renorm:
        w = w / w.sum(dim=-1, keepdim=True)
    return w, sel, probs


def moe_block(h, router_w, experts, k, renorm, expert_fn):
    """h (N, C); experts: list of per-expert weights; as MixtralSparseMoeBlock (index_add_ of gated outputs)."""
    logits = h @ router_w.t()
    w, sel, probs = route(logits, k, renorm)
    E = router_w.shape[0]
    out = torch.zeros_like(h)
    mask = F.one_hot(sel, E).permute(2, 1, 0)  # (E, k, N)
    for e in range(E):
        slot, tok = torch.where(mask[e])
        if tok.numel() == 0:
            continue
        out = out.index_add(0, tok, expert_fn(h[tok], experts[e]) * w[tok, slot, None])
    f = F.one_hot(sel, E).double().sum(1).mean(0)  # (E): share of tokens routed to e (sums to k)
    lb = E * (f * probs.mean(0)).sum()
    z = (torch.logsumexp(logits, dim=-1) ** 2).mean()
    return out, lb, z


# ---------------------------------------------------------------- llama / Mixtral

LL = dict(L=2, H=4, Hkv=2, C=16, M=12, E=4, K=2, T=8, V=64, B=2, theta=500.0, eps=1e-5, aux=0.1, zc=0.01)


def make_llama(out):
    c = LL
    D = c["C"] // c["H"]
    shapes = {"model.embed_tokens.weight": (c["V"], c["C"])}
    for i in range(c["L"]):
        p = f"model.layers.{i}."
        shapes.update({
            p + "input_layernorm.weight": (c["C"],), p + "post_attention_layernorm.weight": (c["C"],),
            p + "self_attn.q_proj.weight": (c["H"] * D, c["C"]), p + "self_attn.k_proj.weight": (c["Hkv"] * D, c["C"]),
            p + "self_attn.v_proj.weight": (c["Hkv"] * D, c["C"]), p + "self_attn.o_proj.weight": (c["C"], c["H"] * D),
            p + "block_sparse_moe.gate.weight": (c["E"], c["C"]),
        })
        for e in range(c["E"]):
            q = f"{p}block_sparse_moe.experts.{e}."
            shapes.update({q + "w1.weight": (c["M"], c["C"]), q + "w2.weight": (c["C"], c["M"]), q + "w3.weight": (c["M"], c["C"])})
    shapes["model.norm.weight"] = (c["C"],)
    shapes["lm_head.weight"] = (c["V"], c["C"])
    W = make_weights(shapes)
    idx = torch.randint(0, c["V"], (c["B"], c["T"]))
    tgt = torch.randint(0, c["V"], (c["B"], c["T"]))
    tgt[1, 3] = -100  # an ignored position

    H, Hkv, C, B, T = c["H"], c["Hkv"], c["C"], c["B"], c["T"]
    rms = lambda x, w: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + c["eps"]) * w
    inv_freq = 1.0 / (c["theta"] ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
    emb = torch.cat([torch.outer(torch.arange(T, dtype=torch.float64), inv_freq)] * 2, dim=-1)
    cos, sin = emb.cos(), emb.sin()
    rot = lambda x: torch.cat((-x[..., D // 2:], x[..., : D // 2]), dim=-1)
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    expert_fn = lambda x, ew: (F.silu(x @ ew[0].t()) * (x @ ew[2].t())) @ ew[1].t()
    x = W["model.embed_tokens.weight"][idx]
    lbs, zs = [], []
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
        h = rms(x, W[p + "post_attention_layernorm.weight"]).reshape(B * T, C)
        experts = [[W[f"{p}block_sparse_moe.experts.{e}.w{j}.weight"] for j in (1, 2, 3)] for e in range(c["E"])]
        y, lb, z = moe_block(h, W[p + "block_sparse_moe.gate.weight"], experts, c["K"], True, expert_fn)
        x = x + y.reshape(B, T, C)
        lbs.append(lb)
        zs.append(z)
    logits = rms(x, W["model.norm.weight"]) @ W["lm_head.weight"].t()
    config = {
        "architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "hidden_act": "silu",
        "hidden_size": c["C"], "intermediate_size": c["M"], "num_hidden_layers": c["L"],
        "num_attention_heads": c["H"], "num_key_value_heads": c["Hkv"], "max_position_embeddings": c["T"],
        "vocab_size": c["V"], "rms_norm_eps": c["eps"], "rope_theta": c["theta"], "tie_word_embeddings": False,
        "num_local_experts": c["E"], "num_experts_per_tok": c["K"], "router_aux_loss_coef": c["aux"],
        "output_router_logits": False, "router_jitter_noise": 0.0, "sliding_window": None,
        "llmforge_router_z_loss_coef": c["zc"], "torch_dtype": "float32",
    }
    shape = "L{L} H{H} Hkv{Hkv} C{C} M{M} E{E} k{K} T{T} V{V} B{B}".format(**c)
    finish(out, W, [(n, n, False) for n in W], idx, tgt, logits, lbs, zs, c["aux"], c["zc"], c["V"], config, shape, "llama")


# ---------------------------------------------------------------- gpt2, llmforge names

G2 = dict(L=2, H=2, C=16, M=20, E=3, K=2, T=8, V=48, B=2, eps=1e-5, aux=0.05, zc=0.02)


def make_gpt2(out):
    c = G2
    C, M, H, T, B = c["C"], c["M"], c["H"], c["T"], c["B"]
    shapes = {"wte.weight": (c["V"], C), "wpe.weight": (T, C)}
    conv = set()  # names stored (in, out) in the file (GPT-2 Conv1D)

    def lin(name, fan_in, fan_out):
        shapes[name + ".weight"] = (fan_out, fan_in)
        shapes[name + ".bias"] = (fan_out,)
        conv.add(name + ".weight")

    for i in range(c["L"]):
        p = f"h.{i}."
        for n in ("ln_1", "ln_2"):
            shapes[p + n + ".weight"], shapes[p + n + ".bias"] = (C,), (C,)
        lin(p + "attn.c_attn", C, 3 * C)
        lin(p + "attn.c_proj", C, C)
        if i == 1:  # moeEvery 2: layer 1 is the MoE layer
            shapes[p + "moe.router.weight"] = (c["E"], C)
            for f in [f"experts.{e}" for e in range(c["E"])] + ["shared"]:
                lin(f"{p}moe.{f}.c_fc", C, M)
                lin(f"{p}moe.{f}.c_proj", M, C)
        else:
            lin(p + "mlp.c_fc", C, M)
            lin(p + "mlp.c_proj", M, C)
    shapes["ln_f.weight"], shapes["ln_f.bias"] = (C,), (C,)
    W = make_weights(shapes)  # every tensor in (out, in) layout here; Conv1D ones transposed on writing
    idx = torch.randint(0, c["V"], (B, T))
    tgt = torch.randint(0, c["V"], (B, T))

    L = lambda x, n: x @ W[n + ".weight"].t() + W[n + ".bias"]
    ln = lambda x, n: F.layer_norm(x, (C,), W[n + ".weight"], W[n + ".bias"], c["eps"])
    mlp = lambda x, n: L(F.gelu(L(x, n + ".c_fc"), approximate="tanh"), n + ".c_proj")
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    x = W["wte.weight"][idx] + W["wpe.weight"][torch.arange(T)]
    lbs, zs = [], []
    for i in range(c["L"]):
        p = f"h.{i}."
        q, k, v = L(ln(x, p + "ln_1"), p + "attn.c_attn").split(C, dim=2)
        q, k, v = (z.view(B, T, H, C // H).transpose(1, 2) for z in (q, k, v))
        att = ((q @ k.transpose(-2, -1)) / math.sqrt(C // H)).masked_fill(~mask, float("-inf")).softmax(-1)
        x = x + L((att @ v).transpose(1, 2).reshape(B, T, C), p + "attn.c_proj")
        h = ln(x, p + "ln_2")
        if i == 1:
            hf = h.reshape(B * T, C)
            names = [f"{p}moe.experts.{e}" for e in range(c["E"])]
            y, lb, z = moe_block(hf, W[p + "moe.router.weight"], names, c["K"], False, mlp)
            y = y + mlp(hf, p + "moe.shared")
            x = x + y.reshape(B, T, C)
            lbs.append(lb)
            zs.append(z)
        else:
            x = x + mlp(h, p + "mlp")
    logits = ln(x, "ln_f") @ W["wte.weight"].t()
    config = {
        "architectures": ["LlmforgeGPT2MoEForCausalLM"], "model_type": "llmforge_gpt2_moe", "activation_function": "gelu_new",
        "n_layer": c["L"], "n_head": H, "n_embd": C, "n_positions": T, "n_ctx": T, "n_inner": M,
        "vocab_size": c["V"], "layer_norm_epsilon": c["eps"], "tie_word_embeddings": True,
        "num_local_experts": c["E"], "num_experts_per_tok": c["K"], "router_aux_loss_coef": c["aux"],
        "llmforge_router_z_loss_coef": c["zc"], "llmforge_moe_every": 2, "llmforge_moe_shared_expert": True,
        "llmforge_moe_normalize_top_k": False, "llmforge_moe_capacity_factor": 0, "torch_dtype": "float32",
    }
    shape = "L{L} H{H} C{C} M{M} E{E} k{K} T{T} V{V} B{B} every2 shared no-renorm".format(**c)
    finish(out, W, [(n, n, n in conv) for n in W], idx, tgt, logits, lbs, zs, c["aux"], c["zc"], c["V"], config, shape, "gpt2")


def finish(out, W, names, idx, tgt, logits, lbs, zs, aux_coef, z_coef, V, config, shape, flavour):
    ce = F.cross_entropy(logits.view(-1, V), tgt.view(-1), ignore_index=-100)
    aux = sum(aux_coef * lb + z_coef * z for lb, z in zip(lbs, zs)) / len(lbs)
    loss = ce + aux
    loss.backward()
    os.makedirs(os.path.join(out, "model"), exist_ok=True)
    write_safetensors(os.path.join(out, "model", "model.safetensors"),
                      [(hf, "F32", W[n].t() if tr else W[n]) for n, hf, tr in names], {"format": "pt", "source": "scripts/make_moe_fixture.py"})
    with open(os.path.join(out, "model", "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    golden = [("tokens", "I32", idx), ("targets", "I32", tgt), ("logits", "F32", logits), ("ce", "F32", ce.reshape(1)),
              ("aux", "F32", aux.reshape(1)), ("loss", "F32", loss.reshape(1))]
    golden += [("grad." + hf, "F32", W[n].grad.t() if tr else W[n].grad) for n, hf, tr in names]
    meta = {"format": FORMAT, "version": VERSION, "flavour": flavour, "torch": torch.__version__, "seed": str(SEED), "shape": shape,
            "dtype": "float64 maths on float32 weights", "lb": json.dumps([float(v) for v in lbs]), "z": json.dumps([float(v) for v in zs])}
    write_safetensors(os.path.join(out, "golden.safetensors"), golden, meta)
    print(f"wrote {out}: ce {ce.item():.6f} aux {aux.item():.6f} loss {loss.item():.6f}")


def main():
    torch.manual_seed(SEED)
    make_llama(os.path.join(OUT, "llama"))
    make_gpt2(os.path.join(OUT, "gpt2"))


if __name__ == "__main__":
    main()
