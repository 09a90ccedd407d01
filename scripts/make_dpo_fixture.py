"""DPO golden fixture for llmforge, made with PyTorch (float64 maths on the float32 weights).

Takes the tiny gpt2 model of test/fixtures/gpt2_golden (made by make_golden.py), three preference pairs of
random token sequences (block size 8; the last `len` tokens of each sequence are the answer), fixed
reference log-probs, and computes per pair the sum of answer-token log-probs under the policy, then the
sigmoid DPO loss with cDPO label smoothing and an SFT term (mean over pairs):
  h = (pc - pr) - (rc - rr);  -(1-eps) log sigmoid(beta h) - eps log sigmoid(-beta h) + sft * (-pc / len_c)
and its gradient with respect to wte.weight (tied embedding / LM head) and ln_f.weight.
Writes test/rl/fixtures/dpoGolden.json: {format: llmforge-dpo-golden, version: 1, ...}.
Usage: /usr/bin/python3 scripts/make_dpo_fixture.py [out_file]
"""
import json, os, sys
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "test", "model")]
from hf_reference import gpt2, load_safetensors  # noqa: E402

MODEL = os.path.normpath(os.path.join(HERE, "..", "test", "fixtures", "gpt2_golden", "model"))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.normpath(os.path.join(HERE, "..", "test", "rl", "fixtures", "dpoGolden.json"))
SEED = 20261202
BETA, EPS, SFT = 0.5, 0.1, 0.2
# (chosen length, chosen answer tokens, rejected length, rejected answer tokens)
SHAPES = [(8, 3, 7, 4), (5, 2, 6, 3), (4, 1, 8, 5)]


def main():
    torch.manual_seed(SEED)
    cfg = json.load(open(os.path.join(MODEL, "config.json")))
    W = {n: t.double().requires_grad_(True) for n, t in load_safetensors(os.path.join(MODEL, "model.safetensors")).items()}
    V = cfg["vocab_size"]
    pairs, pcs, prs = [], [], []
    ref = [[-9.5, -11.0], [-6.0, -5.5], [-2.25, -14.0]]

    def logp(seq, n):
        idx = torch.tensor([seq])
        logits = gpt2(cfg, W, idx)[0]  # (T, V)
        lp = F.log_softmax(logits[:-1], dim=-1)
        tgt = torch.tensor(seq[1:])
        per = lp[torch.arange(len(seq) - 1), tgt]
        return per[-n:].sum()

    for lc, nc, lr, nr in SHAPES:
        c = torch.randint(0, V, (lc,)).tolist()
        r = torch.randint(0, V, (lr,)).tolist()
        pairs.append({"chosen": c, "rejected": r, "chosenLen": nc, "rejectedLen": nr})
        pcs.append(logp(c, nc))
        prs.append(logp(r, nr))
    pc, pr = torch.stack(pcs), torch.stack(prs)
    rc = torch.tensor([x[0] for x in ref], dtype=torch.float64)
    rr = torch.tensor([x[1] for x in ref], dtype=torch.float64)
    h = (pc - pr) - (rc - rr)
    per = -(1 - EPS) * F.logsigmoid(BETA * h) - EPS * F.logsigmoid(-BETA * h)
    nc = torch.tensor([p["chosenLen"] for p in pairs], dtype=torch.float64)
    loss = per.mean() + SFT * (-pc / nc).mean()
    loss.backward()
    out = {
        "format": "llmforge-dpo-golden", "version": 1, "writer": "scripts/make_dpo_fixture.py (torch %s)" % torch.__version__,
        "model": "test/fixtures/gpt2_golden/model", "beta": BETA, "labelSmoothing": EPS, "sftCoef": SFT, "pairs": pairs,
        "refChosen": rc.tolist(), "refRejected": rr.tolist(), "policyChosen": pc.tolist(), "policyRejected": pr.tolist(), "loss": loss.item(),
        "grad": {n: W[n].grad.reshape(-1).tolist() for n in ["wte.weight", "ln_f.weight"]},
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f)
        f.write("\n")
    print("wrote", OUT, "loss", out["loss"])


if __name__ == "__main__":
    main()
