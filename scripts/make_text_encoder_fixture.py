#!/usr/bin/env python3
"""Parity fixture for the text encoder (src/models/encoders/text-transformer.ts, bert-embedder.ts).

Builds, in PyTorch, the transformer that CompVis' BERTEmbedder and TransformerEmbedder run
(ldm/modules/x_transformer.py: TransformerWrapper(num_tokens, max_seq_len,
attn_layers=Encoder(dim, depth)), the configuration those classes use: learned absolute positions,
pre-norm LayerNorm, bias-free q/k/v, no masks, exact GELU feed-forward with mult 4), written here
from that file's semantics with its state-dict keys, and writes test/fixtures/text_encoder.safetensors:
- `<name>.<key>`: random weights of each config (CONFIGS), float16-exact and stored as F16;
- `<name>.<case>.tokens`: token-id rows (F32), `<case>.embeddings`: the output after the final norm
  (return_embeddings=True), `<case>.logits`: to_logits of it; computed in float64, stored as F32;
- `<name>.<case>.probe` and `<name>.<case>.grad.<key>`: the gradients of sum(embeddings * probe)
  with respect to the parameters GRADIENTS lists for that case (a few of each kind, to stay small);
- metadata: each config (JSON) and each config's state-dict keys in PyTorch's order.
LayerNorm affines are non-trivial so that they are tested. Run with /usr/bin/python3.
"""
import json
import pathlib

import torch
import torch.nn.functional as F
from torch import nn

from safetensors_file import write_safetensors

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "test" / "fixtures" / "text_encoder.safetensors"

CONFIGS = {
    # A CPU-sized model with the heads/dim_head extension.
    "small": dict(n_embed=32, n_layer=2, vocab_size=40, max_seq_len=10, heads=2, dim_head=16),
    # x-transformers' defaults: 8 heads of 64 channels, whatever the width.
    "defaults": dict(n_embed=8, n_layer=1, vocab_size=20, max_seq_len=6, heads=8, dim_head=64),
}
# Rows as a BERT-style tokenizer gives them: [CLS]=1 ... [SEP]=2, then [PAD]=0 to the full length.
CASES = {
    "small": {
        "full": [[1, 7, 33, 12, 2, 0, 0, 0, 0, 0], [1, 39, 5, 5, 18, 21, 9, 26, 14, 2], [1, 2, 0, 0, 0, 0, 0, 0, 0, 0]],
        # A sequence shorter than max_seq_len uses the first positions only.
        "short": [[1, 11, 2, 0, 0, 0, 0], [1, 3, 4, 5, 6, 7, 2]],
    },
    "defaults": {"full": [[1, 19, 4, 2, 0, 0], [1, 8, 8, 8, 9, 2]]},
}
GRADIENT_KEYS = [
    "token_emb.weight",
    "pos_emb.emb.weight",
    "attn_layers.layers.0.0.weight",
    "attn_layers.layers.0.1.to_q.weight",
    "attn_layers.layers.0.1.to_k.weight",
    "attn_layers.layers.0.1.to_v.weight",
    "attn_layers.layers.0.1.to_out.bias",
    "attn_layers.layers.1.0.bias",
    "attn_layers.layers.1.1.net.0.0.weight",
    "attn_layers.layers.1.1.net.2.bias",
    "norm.weight",
    "norm.bias",
]
# The cases with gradients; to keep the file under 200 KB, the wide q/k of the 8-head config are left out.
GRADIENTS = {
    "small.full": GRADIENT_KEYS,
    "defaults.full": [key for key in GRADIENT_KEYS if not key.endswith(("to_q.weight", "to_k.weight"))],
}


class Attention(nn.Module):
    def __init__(self, dim, heads, dim_head):
        super().__init__()
        inner = heads * dim_head
        self.heads, self.scale = heads, dim_head ** -0.5
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_k = nn.Linear(dim, inner, bias=False)
        self.to_v = nn.Linear(dim, inner, bias=False)
        self.to_out = nn.Linear(inner, dim)

    def forward(self, x):
        b, n, _ = x.shape
        # [B, N, H*D] -> [B, H, N, D]
        q, k, v = (t(x).reshape(b, n, self.heads, -1).transpose(1, 2) for t in (self.to_q, self.to_k, self.to_v))
        attn = torch.softmax(q @ k.transpose(-1, -2) * self.scale, dim=-1)
        return self.to_out((attn @ v).transpose(1, 2).reshape(b, n, -1))


class FeedForward(nn.Module):
    def __init__(self, dim, mult=4):
        super().__init__()
        self.net = nn.Sequential(nn.Sequential(nn.Linear(dim, dim * mult), nn.GELU()), nn.Dropout(0.0),
                                 nn.Linear(dim * mult, dim))

    def forward(self, x):
        return self.net(x)


class PositionalEmbedding(nn.Module):
    def __init__(self, dim, max_seq_len):
        super().__init__()
        self.emb = nn.Embedding(max_seq_len, dim)


class TransformerWrapper(nn.Module):
    def __init__(self, n_embed, n_layer, vocab_size, max_seq_len, heads, dim_head):
        super().__init__()
        self.token_emb = nn.Embedding(vocab_size, n_embed)
        self.pos_emb = PositionalEmbedding(n_embed, max_seq_len)
        layers = []
        for _ in range(n_layer):
            layers.append(nn.ModuleList([nn.LayerNorm(n_embed), Attention(n_embed, heads, dim_head)]))
            layers.append(nn.ModuleList([nn.LayerNorm(n_embed), FeedForward(n_embed)]))
        self.attn_layers = nn.Module()
        self.attn_layers.layers = nn.ModuleList(layers)
        self.norm = nn.LayerNorm(n_embed)
        self.to_logits = nn.Linear(n_embed, vocab_size)

    def forward(self, tokens):
        x = self.token_emb(tokens) + self.pos_emb.emb.weight[None, : tokens.shape[1]]
        for norm, block in self.attn_layers.layers:
            x = block(norm(x)) + x  # pre-norm residual
        x = self.norm(x)
        return x, self.to_logits(x)


def randomize(model, generator):
    """Non-trivial LayerNorm affines; every weight rounded to float16."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.LayerNorm):
                module.weight.copy_(1 + 0.3 * torch.randn(module.weight.shape, generator=generator))
                module.bias.copy_(0.3 * torch.randn(module.bias.shape, generator=generator))
        for p in model.parameters():
            p.copy_(p.half().float())


def make_config(name, generator):
    model = TransformerWrapper(**CONFIGS[name])
    randomize(model, generator)
    tensors = {f"{name}.{k}": v.half() for k, v in model.state_dict().items()}
    keys = list(model.state_dict().keys())
    ref = model.double().eval()
    params = dict(ref.named_parameters())
    for case, rows in CASES[name].items():
        prefix = f"{name}.{case}"
        tokens = torch.tensor(rows)
        embeddings, logits = ref(tokens)
        tensors[f"{prefix}.tokens"] = tokens.float()
        tensors[f"{prefix}.embeddings"] = embeddings.detach().float()
        tensors[f"{prefix}.logits"] = logits.detach().float()
        if prefix in GRADIENTS:
            ref.zero_grad()
            probe = torch.randn(embeddings.shape, generator=generator)
            (embeddings * probe.double()).sum().backward()
            tensors[f"{prefix}.probe"] = probe
            for key in GRADIENTS[prefix]:
                tensors[f"{prefix}.grad.{key}"] = params[key].grad.float()
    return tensors, keys


def main():
    generator = torch.Generator().manual_seed(20211220)
    torch.manual_seed(0)  # the default nn init
    tensors, metadata = {}, {"gradients": json.dumps(GRADIENTS)}
    for name in CONFIGS:
        own, keys = make_config(name, generator)
        tensors.update(own)
        metadata[f"config.{name}"] = json.dumps(CONFIGS[name])
        metadata[f"keys.{name}"] = json.dumps(keys)
        metadata[f"cases.{name}"] = json.dumps(list(CASES[name]))
    write_safetensors(FIXTURE, tensors, metadata)
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
