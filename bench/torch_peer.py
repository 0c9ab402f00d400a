"""PyTorch CPU column of `npm run bench` (started by bench/torch-peer.ts).

JSON lines on stdin and stdout. The first line in is {"threads": N}; the reply is
{"torch": version, "threads": N, "notes": [...]}. Then each line in is {"case": one case of
bench/cases.ts, "policy": one round's timing policy}, run with torch.set_num_threads(N) and
the same rules as bench/timing.ts; each reply is {"times": [ms, ...]} or {"error": message}.
The inputs of the latest case are kept, so its later rounds reuse them.
"""

import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

# scripts/unet_reference.py: the plain-PyTorch U-Net our parity fixtures come from.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))


def time_runs(run, policy):
    for _ in range(policy["warmup"]):
        run()
    times = []
    spent = 0.0
    while len(times) < policy["maxReps"] and (len(times) < policy["minReps"] or spent < policy["budgetMs"]):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
        spent += times[-1]
    return times


def attention(q, k, v):
    """softmax(q k^T / sqrt(d)) v on [B, H, T, D]; the fused op where this torch has it."""
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v)
    scores = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    return torch.matmul(scores.softmax(dim=-1), v)


def forward_backward(params, forward):
    """Returns a run() doing forward, then backward of a fixed output gradient; grads reset each time."""
    with torch.no_grad():
        grad_out = torch.randn_like(forward())

    def run():
        for p in params:
            p.grad = None
        forward().backward(grad_out)

    return run


def matmul_case(spec):
    a = torch.randn(spec["m"], spec["k"])
    b = torch.randn(spec["k"], spec["n"])
    return lambda: torch.matmul(a, b)


def attention_case(spec):
    shape = (spec["batch"], spec["heads"], spec["tokens"], spec["headDim"])
    q, k, v = (torch.randn(shape, requires_grad=spec["backward"]) for _ in range(3))
    if not spec["backward"]:
        return lambda: attention(q, k, v)
    return forward_backward([q, k, v], lambda: attention(q, k, v))


def conv2d_case(spec):
    c = spec["channels"]
    x = torch.randn(spec["batch"], c, spec["size"], spec["size"], requires_grad=spec["backward"])
    conv = nn.Conv2d(c, c, 3, padding=1)
    if not spec["backward"]:
        return lambda: conv(x)
    return forward_backward([x, *conv.parameters()], lambda: conv(x))


def groupnorm_silu_case(spec):
    c = spec["channels"]
    x = torch.randn(spec["batch"], c, spec["size"], spec["size"], requires_grad=spec["backward"])
    norm = nn.GroupNorm(spec["groups"], c, eps=1e-5)
    if not spec["backward"]:
        return lambda: F.silu(norm(x))
    return forward_backward([x, *norm.parameters()], lambda: F.silu(norm(x)))


class ResBlock(nn.Module):
    def __init__(self, channels, emb_dim):
        super().__init__()
        self.norm1 = nn.GroupNorm(32, channels, eps=1e-5)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.emb_proj = nn.Linear(emb_dim, channels)
        self.norm2 = nn.GroupNorm(32, channels, eps=1e-5)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb_proj(F.silu(emb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return x + h


class Attention(nn.Module):
    def __init__(self, dim, context_dim, heads):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(context_dim, dim, bias=False)
        self.to_v = nn.Linear(context_dim, dim, bias=False)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, x, context):
        b, t, c = x.shape
        heads = self.heads

        def split(y):  # [B, T, H*D] -> [B, H, T, D]
            return y.reshape(b, -1, heads, c // heads).transpose(1, 2)

        out = attention(split(self.to_q(x)), split(self.to_k(context)), split(self.to_v(context)))
        return self.to_out(out.transpose(1, 2).reshape(b, t, c))


class SpatialTransformer(nn.Module):
    def __init__(self, channels, heads, context_dim):
        super().__init__()
        self.norm = nn.GroupNorm(32, channels, eps=1e-6)
        self.proj_in = nn.Conv2d(channels, channels, 1)
        self.norm1 = nn.LayerNorm(channels)
        self.attn1 = Attention(channels, channels, heads)
        self.norm2 = nn.LayerNorm(channels)
        self.attn2 = Attention(channels, context_dim, heads)
        self.norm3 = nn.LayerNorm(channels)
        self.ff_proj = nn.Linear(channels, 8 * channels)  # GEGLU
        self.ff_out = nn.Linear(4 * channels, channels)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x, context):
        b, c, h, w = x.shape
        t = self.proj_in(self.norm(x)).reshape(b, c, h * w).transpose(1, 2)  # [B, HW, C]
        n1 = self.norm1(t)
        t = t + self.attn1(n1, n1)
        t = t + self.attn2(self.norm2(t), context)
        a, gate = self.ff_proj(self.norm3(t)).chunk(2, dim=-1)
        t = t + self.ff_out(a * F.gelu(gate))
        return x + self.proj_out(t.transpose(1, 2).reshape(b, c, h, w))


def ldm_block_case(spec):
    c, b, size = spec["channels"], spec["batch"], spec["size"]
    res = ResBlock(c, spec["embDim"])
    transformer = SpatialTransformer(c, spec["heads"], spec["contextDim"])
    x = torch.randn(b, c, size, size, requires_grad=True)
    emb = torch.randn(b, spec["embDim"])
    context = torch.randn(b, spec["contextTokens"], spec["contextDim"])
    params = [x, *res.parameters(), *transformer.parameters()]
    return forward_backward(params, lambda: transformer(res(x, emb), context))


def unet_train_case(spec):
    """One training step of the reference UNetModel: forward, MSE loss, backward, AdamW."""
    from unet_reference import UNetModel

    model = UNetModel(
        in_channels=spec["channels"],
        out_channels=spec["channels"],
        model_channels=spec["modelChannels"],
        channel_mult=spec["channelMult"],
        num_res_blocks=spec["numResBlocks"],
        attention_resolutions=spec["attentionResolutions"],
        num_head_channels=spec["numHeadChannels"],
        use_spatial_transformer=True,
        transformer_depth=spec["transformerDepth"],
        context_dim=spec["contextDim"],
    )
    count = sum(p.numel() for p in model.parameters())
    if count != spec["parameters"]:
        raise ValueError(f"reference U-Net has {count} parameters, the spec says {spec['parameters']}")
    b, size = spec["batch"], spec["size"]
    x = torch.randn(b, spec["channels"], size, size)
    target = torch.randn_like(x)
    context = torch.randn(b, spec["contextTokens"], spec["contextDim"])
    timesteps = torch.randint(0, spec["timesteps"], (b,))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def run():
        optimizer.zero_grad(set_to_none=True)
        F.mse_loss(model(x, timesteps, context=context), target).backward()
        optimizer.step()

    return run


CASE_BUILDERS = {
    "matmul": matmul_case,
    "attention": attention_case,
    "conv2d": conv2d_case,
    "groupnorm_silu": groupnorm_silu_case,
    "ldm_block": ldm_block_case,
    "unet_train": unet_train_case,
}


class Runner:
    """Builds each case once and times it for as many rounds as asked."""

    def __init__(self):
        self.case_id = None
        self.run = None

    def sample(self, case, policy):
        spec = case["spec"]
        grad = spec.get("backward", spec["kind"] in ("ldm_block", "unet_train"))
        try:
            with torch.set_grad_enabled(grad):
                if case["id"] != self.case_id:
                    self.case_id, self.run = None, None  # free the previous case's tensors first
                    self.run = CASE_BUILDERS[spec["kind"]](spec)
                    self.case_id = case["id"]
                return {"times": time_runs(self.run, policy)}
        except Exception as e:  # report and go on: one failing case must not hide the others
            return {"error": f"{type(e).__name__}: {e}"}


def main():
    setup = json.loads(sys.stdin.readline())
    torch.set_num_threads(setup["threads"])
    torch.manual_seed(0)
    notes = []
    if not hasattr(F, "scaled_dot_product_attention"):
        notes.append(f"torch {torch.__version__} has no F.scaled_dot_product_attention: attention is matmul-softmax-matmul")
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "notes": notes}), flush=True)
    runner = Runner()
    for line in iter(sys.stdin.readline, ""):
        request = json.loads(line)
        print(json.dumps(runner.sample(request["case"], request["policy"])), flush=True)


if __name__ == "__main__":
    main()
