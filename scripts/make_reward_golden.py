"""Reward-model golden fixture for llmforge, made with PyTorch (float64 maths on float32 weights).

Takes the tiny gpt2 and llama models of test/fixtures/gpt2_golden (made by make_golden.py), puts a
scalar head (score.weight (1, C), no bias, random float32-representable values) on the final hidden
states as Hugging Face's *ForSequenceClassification does, reads it at the last real token of right-
padded sequences, and back-propagates the loss llmforge calls "bt+mse" (centering 0.1, MSE weight 0.5):
  per prompt: mean over its pairs of -log sigmoid(r_b - r_w - margin) + 0.1 * mean over pairs (r_b + r_w)^2
              + 0.5 * mean over its scored answers (r - target)^2;  loss = mean over prompts.
Writes test/fixtures/reward_golden/{gpt2,llama}.safetensors: tokens, lengths, score.weight, rewards, loss
and grad.<HF name> for every trunk weight and score.weight; __metadata__ format=llmforge-reward-golden,
version=1, groups=<JSON of the prompts: start, count, pairs [better, worse, margin], targets>.
Usage: /usr/bin/python3 scripts/make_reward_golden.py [out_dir]
"""
import json, os, sys
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "test", "model")]
from make_golden import write_safetensors  # noqa: E402
from hf_reference import gpt2, llama, load_safetensors  # noqa: E402

BASE = os.path.normpath(os.path.join(HERE, "..", "test", "fixtures", "gpt2_golden"))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.normpath(os.path.join(HERE, "..", "test", "fixtures", "reward_golden"))
SEED = 20240522
LENGTHS = [8, 5, 3, 6, 2]
PAD = 7  # any id: the reward is read at the last real token, before any padding
GROUPS = [
    {"start": 0, "count": 3, "pairs": [[0, 1, 0.5], [0, 2, 0.0], [1, 2, 0.0]], "targets": [0.5, None, -0.25]},
    {"start": 3, "count": 2, "pairs": [[1, 0, 0.0]], "targets": [0.1, 0.9]},
]
CENTER, MSE = 0.1, 0.5


def loss_of(r):
    total = 0.0
    for g in GROUPS:
        s = g["start"]
        bt = sum(-F.logsigmoid(r[s + b] - r[s + w] - m) for b, w, m in g["pairs"]) / len(g["pairs"])
        cen = sum((r[s + b] + r[s + w]) ** 2 for b, w, _ in g["pairs"]) / len(g["pairs"])
        scored = [(i, t) for i, t in enumerate(g["targets"]) if t is not None]
        mse = sum((r[s + i] - t) ** 2 for i, t in scored) / len(scored)
        total = total + bt + CENTER * cen + MSE * mse
    return total / len(GROUPS)


def make(name, model_dir, fwd):
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    W = {n: t.double().requires_grad_(True) for n, t in load_safetensors(os.path.join(model_dir, "model.safetensors")).items()}
    C = cfg.get("n_embd", cfg.get("hidden_size"))
    V = cfg["vocab_size"]
    T = cfg.get("n_positions", cfg.get("max_position_embeddings"))
    score = (0.3 * torch.randn(1, C)).float().double().requires_grad_(True)
    idx = torch.full((len(LENGTHS), T), PAD, dtype=torch.long)
    for n, L in enumerate(LENGTHS):
        idx[n, :L] = torch.randint(0, V, (L,))
    # The scalar head as the model's only output row: values (N, T, 1) at every position.
    values = fwd(dict(cfg, tie_word_embeddings=False), dict(W, **{"lm_head.weight": score}), idx)[..., 0]
    rewards = torch.stack([values[n, L - 1] for n, L in enumerate(LENGTHS)])
    loss = loss_of(rewards)
    loss.backward()
    golden = [("tokens", "I32", idx), ("lengths", "I32", torch.tensor(LENGTHS)), ("score.weight", "F32", score),
              ("rewards", "F32", rewards), ("loss", "F32", loss.reshape(1)), ("grad.score.weight", "F32", score.grad)]
    golden += [("grad." + n, "F32", t.grad) for n, t in W.items() if n != "lm_head.weight"]
    meta = {"format": "llmforge-reward-golden", "version": "1", "torch": torch.__version__, "seed": str(SEED),
            "groups": json.dumps(GROUPS), "center_coef": str(CENTER), "mse_coef": str(MSE), "pad": str(PAD),
            "model": os.path.relpath(model_dir, OUT), "dtype": "float64 maths on float32 weights"}
    write_safetensors(os.path.join(OUT, name + ".safetensors"), golden, meta)
    print(f"wrote {name}: loss {loss.item():.6f}, rewards {[round(x, 4) for x in rewards.tolist()]}")


def main():
    torch.manual_seed(SEED)
    os.makedirs(OUT, exist_ok=True)
    make("gpt2", os.path.join(BASE, "model"), gpt2)
    make("llama", os.path.join(BASE, "llama", "model"), llama)


if __name__ == "__main__":
    main()
