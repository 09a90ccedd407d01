"""Golden fixture for llmforge's BERT, made with plain PyTorch (no transformers needed).

An independent BERT forward written the way Hugging Face's BertForPreTraining computes it
(embeddings word + position + token type -> LayerNorm; post-LN blocks with bidirectional
attention under the additive padding mask (1 - mask) * finfo.min; GELU tanh ("gelu_new");
tanh pooler on [CLS]; MLM head dense -> gelu -> LayerNorm -> decoder tied to the word
embeddings + cls.predictions.bias; next-sentence head), at a tiny size with seeded weights,
run in float64 on float32-representable weights. Writes into test/fixtures/bert_golden/:
  model/model.safetensors + model/config.json  the weights in HF BERT names, HF BertConfig keys
  golden.safetensors  a padded batch (input_ids, token_type_ids, attention_mask, mlm_labels with
                      -100, nsp_labels), mlm_logits, nsp_logits, loss (= MLM + NSP mean losses),
                      mlm_loss, nsp_loss and grad.<hf name> of every weight,
                      with __metadata__ format=llmforge-bert-golden, version=1
The safetensors files are written by hand (no `safetensors` package needed).
Usage: /usr/bin/python3 test/model/bert_reference.py [out_dir]
"""
import json, math, os, struct, sys
import torch
import torch.nn.functional as F
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from safetensors_io import write_safetensors  # noqa: E402

L, H, C, I, V, P, TYPES, B, T, EPS = 2, 2, 16, 40, 48, 12, 2, 3, 8, 1e-12
SEED = 20260101
FORMAT, VERSION = "llmforge-bert-golden", "1"
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "fixtures", "bert_golden")


def shapes():
    s = {
        "bert.embeddings.word_embeddings.weight": (V, C),
        "bert.embeddings.position_embeddings.weight": (P, C),
        "bert.embeddings.token_type_embeddings.weight": (TYPES, C),
        "bert.embeddings.LayerNorm.weight": (C,), "bert.embeddings.LayerNorm.bias": (C,),
    }
    for i in range(L):
        p = f"bert.encoder.layer.{i}."
        for n in ("query", "key", "value"):
            s[p + f"attention.self.{n}.weight"], s[p + f"attention.self.{n}.bias"] = (C, C), (C,)
        s[p + "attention.output.dense.weight"], s[p + "attention.output.dense.bias"] = (C, C), (C,)
        s[p + "attention.output.LayerNorm.weight"], s[p + "attention.output.LayerNorm.bias"] = (C,), (C,)
        s[p + "intermediate.dense.weight"], s[p + "intermediate.dense.bias"] = (I, C), (I,)
        s[p + "output.dense.weight"], s[p + "output.dense.bias"] = (C, I), (C,)
        s[p + "output.LayerNorm.weight"], s[p + "output.LayerNorm.bias"] = (C,), (C,)
    s["bert.pooler.dense.weight"], s["bert.pooler.dense.bias"] = (C, C), (C,)
    s["cls.predictions.bias"] = (V,)
    s["cls.predictions.transform.dense.weight"], s["cls.predictions.transform.dense.bias"] = (C, C), (C,)
    s["cls.predictions.transform.LayerNorm.weight"], s["cls.predictions.transform.LayerNorm.bias"] = (C,), (C,)
    s["cls.seq_relationship.weight"], s["cls.seq_relationship.bias"] = (2, C), (2,)
    return s


def params():
    """Larger-than-default weights so every path carries signal; float32-representable, float64 maths."""
    W = {}
    for n, sh in shapes().items():
        if n.endswith("LayerNorm.weight"):
            t = 1 + 0.1 * torch.randn(sh)
        elif "embeddings" in n:
            t = 0.5 * torch.randn(sh)
        elif n.endswith("bias"):
            t = 0.1 * torch.randn(sh)
        else:
            t = 0.3 * torch.randn(sh)
        W[n] = t.float().double().requires_grad_(True)
    return W


def ln(x, W, p):
    return F.layer_norm(x, (C,), W[p + ".weight"], W[p + ".bias"], EPS)


def lin(x, W, p):
    return x @ W[p + ".weight"].t() + W[p + ".bias"]


def gelu(x):  # HF "gelu_new"
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def forward(W, input_ids, token_type_ids, attention_mask):
    """-> sequence output (B, T, C), pooled (B, C), MLM logits (B, T, V), NSP logits (B, 2)."""
    b, t = input_ids.shape
    D = C // H
    e = W["bert.embeddings.word_embeddings.weight"][input_ids] + W["bert.embeddings.position_embeddings.weight"][torch.arange(t)]
    e = e + W["bert.embeddings.token_type_embeddings.weight"][token_type_ids]
    x = ln(e, W, "bert.embeddings.LayerNorm")
    ext = (1.0 - attention_mask[:, None, None, :].double()) * torch.finfo(torch.float64).min  # (B, 1, 1, T)
    for i in range(L):
        p = f"bert.encoder.layer.{i}."
        heads = lambda z: z.view(b, t, H, D).permute(0, 2, 1, 3)
        q, k, v = (heads(lin(x, W, p + f"attention.self.{n}")) for n in ("query", "key", "value"))
        att = (q @ k.transpose(-1, -2)) / math.sqrt(D) + ext
        y = (att.softmax(-1) @ v).permute(0, 2, 1, 3).reshape(b, t, C)
        h = ln(lin(y, W, p + "attention.output.dense") + x, W, p + "attention.output.LayerNorm")
        m = gelu(lin(h, W, p + "intermediate.dense"))
        x = ln(lin(m, W, p + "output.dense") + h, W, p + "output.LayerNorm")
    pooled = torch.tanh(lin(x[:, 0], W, "bert.pooler.dense"))
    tr = ln(gelu(lin(x, W, "cls.predictions.transform.dense")), W, "cls.predictions.transform.LayerNorm")
    mlm = tr @ W["bert.embeddings.word_embeddings.weight"].t() + W["cls.predictions.bias"]
    nsp = lin(pooled, W, "cls.seq_relationship")
    return x, pooled, mlm, nsp


def main():
    torch.manual_seed(SEED)
    W = params()
    lengths = [T, T - 3, T - 5]  # rows 1 and 2 end in padding (id 0)
    input_ids = torch.randint(1, V, (B, T))
    attention_mask = torch.zeros(B, T, dtype=torch.long)
    token_type_ids = torch.zeros(B, T, dtype=torch.long)
    mlm_labels = torch.full((B, T), -100, dtype=torch.long)
    for r, n in enumerate(lengths):
        attention_mask[r, :n] = 1
        input_ids[r, n:] = 0
        token_type_ids[r, n // 2:n] = 1
        for j in range(1, n, 2):  # every other real token (not [CLS]) is predicted
            mlm_labels[r, j] = int(torch.randint(0, V, (1,)))
    nsp_labels = torch.tensor([0, 1, 0])
    _, _, mlm, nsp = forward(W, input_ids, token_type_ids, attention_mask)
    mlm_loss = F.cross_entropy(mlm.reshape(-1, V), mlm_labels.reshape(-1), ignore_index=-100)
    nsp_loss = F.cross_entropy(nsp, nsp_labels)
    loss = mlm_loss + nsp_loss
    loss.backward()

    os.makedirs(os.path.join(OUT, "model"), exist_ok=True)
    write_safetensors(os.path.join(OUT, "model", "model.safetensors"), [(n, "F32", t) for n, t in W.items()],
                      {"format": "pt", "source": "test/model/bert_reference.py"})
    config = {
        "architectures": ["BertForPreTraining"], "model_type": "bert", "vocab_size": V, "hidden_size": C,
        "num_hidden_layers": L, "num_attention_heads": H, "intermediate_size": I, "hidden_act": "gelu_new",
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "max_position_embeddings": P,
        "type_vocab_size": TYPES, "initializer_range": 0.02, "layer_norm_eps": EPS, "pad_token_id": 0,
        "position_embedding_type": "absolute", "torch_dtype": "float32",
    }
    with open(os.path.join(OUT, "model", "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    golden = [("input_ids", "I32", input_ids), ("token_type_ids", "I32", token_type_ids), ("attention_mask", "I32", attention_mask),
              ("mlm_labels", "I32", mlm_labels), ("nsp_labels", "I32", nsp_labels),
              ("mlm_logits", "F32", mlm), ("nsp_logits", "F32", nsp), ("loss", "F32", loss.reshape(1)),
              ("mlm_loss", "F32", mlm_loss.reshape(1)), ("nsp_loss", "F32", nsp_loss.reshape(1))]
    golden += [("grad." + n, "F32", t.grad) for n, t in W.items()]
    meta = {"format": FORMAT, "version": VERSION, "torch": torch.__version__, "seed": str(SEED),
            "shape": f"L{L} H{H} C{C} I{I} V{V} P{P} B{B} T{T}", "dtype": "float64 maths on float32 weights"}
    write_safetensors(os.path.join(OUT, "golden.safetensors"), golden, meta)
    print(f"wrote {OUT}: loss {loss.item():.6f} (mlm {mlm_loss.item():.6f}, nsp {nsp_loss.item():.6f})")


if __name__ == "__main__":
    main()
