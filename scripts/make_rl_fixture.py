"""PPO / GRPO loss golden fixture for llmforge, made with PyTorch in float64.

Fixed random logits (B, T, V) with right-padded masks; logp = log_softmax(logits) gathered at the tokens.
Computes, each written as TRL / verl write it, the PPO clipped policy loss (eps 0.2, eps_high 0.28, token
mean), the clipped value loss (clip 0.2, token mean of max((V-R)^2, (clip(V, Vold +- c) - R)^2) / 2), the
mean entropy over real tokens, and the GRPO loss for "grpo", "dapo" and "dr_grpo" with beta 0.04 (k3),
plus each loss's gradient with respect to the logits (and values). Padding positions hold garbage.
Writes test/rl/fixtures/rlLosses.json with format=llmforge-rl-losses, version=1.
Usage: /usr/bin/python3 scripts/make_rl_fixture.py [out_file]
"""
import json, os, sys
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.normpath(os.path.join(HERE, "..", "test", "rl", "fixtures", "rlLosses.json"))
torch.manual_seed(20261202)
B, T, V = 4, 5, 6
LENGTHS = [5, 3, 4, 2]
EPS, EPS_HIGH, VCLIP, BETA = 0.2, 0.28, 0.2, 0.04
dt = torch.float64
logits0 = torch.randn(B, T, V, dtype=dt) * 1.5
tokens = torch.randint(0, V, (B, T))
mask = torch.zeros(B, T, dtype=dt)
for b, n in enumerate(LENGTHS):
    mask[b, :n] = 1
with torch.no_grad():
    lp0 = torch.log_softmax(logits0, -1).gather(-1, tokens[..., None])[..., 0]
old_logp = lp0 + 0.8 * torch.randn(B, T, dtype=dt)  # ratios spread beyond the clip range
ref_logp = lp0 + 0.5 * torch.randn(B, T, dtype=dt)
tok_adv = torch.randn(B, T, dtype=dt)
seq_adv = torch.randn(B, dtype=dt)
values0 = torch.randn(B, T, dtype=dt)
old_values = values0 + 0.3 * torch.randn(B, T, dtype=dt)
returns = torch.randn(B, T, dtype=dt)
n_tok = mask.sum()
pad = mask == 0
old_logp[pad] = 40.0  # garbage on padding: it must change nothing
ref_logp[pad] = -40.0
returns[pad] = 1e3


def logp_of(logits):
    return torch.log_softmax(logits, -1).gather(-1, tokens[..., None])[..., 0]


def per_token_policy(logp, adv):
    ratio = torch.exp(logp - old_logp)
    return -torch.min(ratio * adv, torch.clamp(ratio, 1 - EPS, 1 + EPS_HIGH) * adv)


def ppo(logits):
    return (per_token_policy(logp_of(logits), tok_adv) * mask).sum() / n_tok


def value(values):
    vc = old_values + torch.clamp(values - old_values, -VCLIP, VCLIP)
    return (0.5 * torch.max((values - returns) ** 2, (vc - returns) ** 2) * mask).sum() / n_tok


def entropy(logits):
    p = torch.softmax(logits, -1)
    return (-(p * torch.log_softmax(logits, -1)).sum(-1) * mask).sum() / n_tok


def grpo(kind):
    def f(logits):
        logp = logp_of(logits)
        d = ref_logp - logp
        per = per_token_policy(logp, seq_adv[:, None]) + BETA * (torch.exp(d) - d - 1)
        if kind == "grpo":
            return ((per * mask).sum(-1) / mask.sum(-1)).mean()
        if kind == "dapo":
            return (per * mask).sum() / n_tok
        return (per * mask).sum() / (B * T)
    return f


def run(fn, x0):
    x = x0.clone().requires_grad_(True)
    loss = fn(x)
    loss.backward()
    return {"loss": loss.item(), "grad": x.grad.flatten().tolist()}


ratio = torch.exp(lp0 - old_logp)
CLIPPED = int((((tok_adv > 0) & (ratio > 1 + EPS_HIGH)) | ((tok_adv < 0) & (ratio < 1 - EPS))).mul(mask).sum())
VCLIPPED = int((((values0 - old_values).abs() > VCLIP) & ((old_values + torch.clamp(values0 - old_values, -VCLIP, VCLIP) - returns) ** 2 > (values0 - returns) ** 2)).to(dt).mul(mask).sum())
out = {
    "format": "llmforge-rl-losses", "version": 1, "torch": torch.__version__, "B": B, "T": T, "V": V,
    "epsilon": EPS, "epsilonHigh": EPS_HIGH, "valueClip": VCLIP, "beta": BETA, "clippedTokens": CLIPPED, "valueClippedTokens": VCLIPPED,
    "logits": logits0.flatten().tolist(), "tokens": tokens.flatten().tolist(), "mask": mask.flatten().tolist(),
    "oldLogp": old_logp.flatten().tolist(), "refLogp": ref_logp.flatten().tolist(), "tokenAdvantages": tok_adv.flatten().tolist(),
    "seqAdvantages": seq_adv.tolist(), "values": values0.flatten().tolist(), "oldValues": old_values.flatten().tolist(), "returns": returns.flatten().tolist(),
    "ppo": run(ppo, logits0), "value": run(value, values0), "entropy": run(entropy, logits0),
    "grpo": {k: run(grpo(k), logits0) for k in ["grpo", "dapo", "dr_grpo"]},
}
os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "w") as f:
    json.dump(out, f)
print("wrote", OUT, {k: out[k]["loss"] for k in ["ppo", "value", "entropy"]}, {k: v["loss"] for k, v in out["grpo"].items()})
