"""LoRA golden fixtures for llmforge's PEFT code, made with PyTorch (float64 maths).

Takes the tiny gpt2 and llama models of test/fixtures/gpt2_golden (made by make_golden.py), adds
LoRA adapters with random non-zero A and B (float32-representable) as Hugging Face PEFT defines
them (delta W = scaling * B @ A, scaling = lora_alpha / r, or lora_alpha / sqrt(r) with rsLoRA;
per-module rank_pattern / alpha_pattern; Conv1D weights (in, out) take the transpose), runs the
forward pass of test/model/hf_reference.py on the adapted weights, and back-propagates into A and B.
Writes test/fixtures/peft_lora/{gpt2,llama}/:
  adapter_config.json + adapter_model.safetensors  the adapter exactly as PEFT saves one
                      (tensor names base_model.model.<module>.lora_A.weight (r, in) / lora_B.weight (out, r))
  golden.safetensors  tokens, targets, logits, loss and grad.<PEFT tensor name> for every A and B,
                      __metadata__ format=llmforge-lora-golden, version=1
Usage: /usr/bin/python3 scripts/make_lora_golden.py [out_dir]
"""
import json, math, os, sys
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "test", "model")]
from make_golden import write_safetensors  # noqa: E402
from hf_reference import gpt2, llama, load_safetensors  # noqa: E402

BASE = os.path.normpath(os.path.join(HERE, "..", "test", "fixtures", "gpt2_golden"))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.normpath(os.path.join(HERE, "..", "test", "fixtures", "peft_lora"))
SEED = 20240521

CASES = {
    # gpt2: c_attn and both c_proj (PEFT's suffix match), one module with its own rank and alpha.
    "gpt2": dict(model=os.path.join(BASE, "model"), r=4, alpha=8, rslora=False, targets=["c_attn", "c_proj"],
                 modules=[f"h.{i}.{m}" for i in range(2) for m in ("attn.c_attn", "attn.c_proj", "mlp.c_proj")],
                 rank_pattern={"transformer.h.1.attn.c_attn": 2}, alpha_pattern={"transformer.h.1.attn.c_attn": 3}),
    # llama: q and v (row slices of llmforge's fused c_attn), gate and up (of c_fc), down; rsLoRA.
    "llama": dict(model=os.path.join(BASE, "llama", "model"), r=4, alpha=6, rslora=True,
                  targets=["q_proj", "v_proj", "gate_proj", "up_proj", "down_proj"],
                  modules=[f"model.layers.{i}.{m}" for i in range(2)
                           for m in ("self_attn.q_proj", "self_attn.v_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")],
                  rank_pattern={}, alpha_pattern={}),
}


def make(name, c):
    out = os.path.join(OUT, name)
    os.makedirs(out, exist_ok=True)
    cfg = json.load(open(os.path.join(c["model"], "config.json")))
    W = {n: t.double() for n, t in load_safetensors(os.path.join(c["model"], "model.safetensors")).items()}
    conv1d = name == "gpt2"
    peft_prefix = "base_model.model." + ("transformer." if conv1d else "")
    lora, W_eff = {}, dict(W)
    for m in c["modules"]:
        full = ("transformer." if conv1d else "") + m
        r = c["rank_pattern"].get(full, c["r"])
        alpha = c["alpha_pattern"].get(full, c["alpha"])
        scaling = alpha / math.sqrt(r) if c["rslora"] else alpha / r
        w = W[m + ".weight"]
        out_f, in_f = (w.shape[1], w.shape[0]) if conv1d else w.shape
        A = (0.3 * torch.randn(r, in_f)).float().double().requires_grad_(True)
        B = (0.3 * torch.randn(out_f, r)).float().double().requires_grad_(True)
        lora[peft_prefix + m + ".lora_A.weight"], lora[peft_prefix + m + ".lora_B.weight"] = A, B
        delta = scaling * (B @ A)  # (out, in)
        W_eff[m + ".weight"] = w + (delta.t() if conv1d else delta)
    V, T = cfg["vocab_size"], cfg.get("n_positions", cfg.get("max_position_embeddings"))
    idx = torch.randint(0, V, (2, T))
    tgt = torch.randint(0, V, (2, T))
    tgt[1, 3] = -100
    logits = (gpt2 if conv1d else llama)(cfg, W_eff, idx)
    loss = F.cross_entropy(logits.reshape(-1, V), tgt.reshape(-1), ignore_index=-100)
    loss.backward()
    adapter_config = {
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": os.path.relpath(c["model"], out),
        "r": c["r"], "lora_alpha": c["alpha"], "lora_dropout": 0.0, "target_modules": c["targets"],
        "fan_in_fan_out": conv1d, "bias": "none", "use_rslora": c["rslora"], "modules_to_save": None,
        "rank_pattern": c["rank_pattern"], "alpha_pattern": c["alpha_pattern"], "init_lora_weights": True,
        "inference_mode": True, "use_dora": False,
    }
    with open(os.path.join(out, "adapter_config.json"), "w") as f:
        json.dump(adapter_config, f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(out, "adapter_model.safetensors"), [(n, "F32", t) for n, t in lora.items()],
                      {"format": "pt", "source": "scripts/make_lora_golden.py"})
    golden = [("tokens", "I32", idx), ("targets", "I32", tgt), ("logits", "F32", logits), ("loss", "F32", loss.reshape(1))]
    golden += [("grad." + n, "F32", t.grad) for n, t in lora.items()]
    meta = {"format": "llmforge-lora-golden", "version": "1", "torch": torch.__version__, "seed": str(SEED),
            "dtype": "float64 maths on float32 weights"}
    write_safetensors(os.path.join(out, "golden.safetensors"), golden, meta)
    print(f"wrote {out}: loss {loss.item():.6f}, {len(lora)} LoRA tensors")


def main():
    torch.manual_seed(SEED)
    for name, c in CASES.items():
        make(name, c)


if __name__ == "__main__":
    main()
