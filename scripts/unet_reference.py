"""The latent-diffusion U-Net in plain PyTorch, written from the facts in REFERENCE.md ("U-Net")
with the CompVis parameter names (time_embed, label_emb, input_blocks, middle_block,
output_blocks, out), plus the two conditioning stages ClassEmbedder and SpatialRescaler.
Used by make_unet_fixture.py; every computation is spelled out (explicit softmax attention),
so that it checks our fused kernels rather than sharing them.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


def timestep_embedding(t, dim, max_period=10000):
    """[N] -> [N, dim]: cos(t f_i) for i < dim // 2, then sin(t f_i); a zero column when dim is odd.
    Formed in float64 (our TypeScript does the same)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float64) / half)
    angles = t.double()[:, None] * freqs[None, :]
    emb = torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb


def group_norm(c, eps=1e-5):
    return nn.GroupNorm(32, c, eps=eps)


def zeroed(layer):
    nn.init.zeros_(layer.weight)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def attend(q, k, v, scale):
    """q [B, T, D], k and v [B, S, D] -> softmax(scale q k^T) v."""
    return torch.softmax(scale * q @ k.transpose(1, 2), dim=-1) @ v


class Upsample(nn.Module):
    def __init__(self, c, use_conv):
        super().__init__()
        if use_conv:
            self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv(x) if hasattr(self, "conv") else x


class Downsample(nn.Module):
    def __init__(self, c, use_conv):
        super().__init__()
        self.use_conv = use_conv
        if use_conv:
            self.op = nn.Conv2d(c, c, 3, stride=2, padding=1)

    def forward(self, x):
        return self.op(x) if self.use_conv else F.avg_pool2d(x, 2)


class ResBlock(nn.Module):
    def __init__(self, c_in, emb_dim, c_out, dropout=0.0, scale_shift=False, up=False, down=False):
        super().__init__()
        self.scale_shift = scale_shift
        self.in_layers = nn.Sequential(group_norm(c_in), nn.SiLU(), nn.Conv2d(c_in, c_out, 3, padding=1))
        self.resample = (lambda x: F.interpolate(x, scale_factor=2, mode="nearest")) if up else (
            (lambda x: F.avg_pool2d(x, 2)) if down else None)
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, 2 * c_out if scale_shift else c_out))
        self.out_layers = nn.Sequential(group_norm(c_out), nn.SiLU(), nn.Dropout(dropout),
                                        zeroed(nn.Conv2d(c_out, c_out, 3, padding=1)))
        if c_in != c_out:
            self.skip_connection = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x, emb):
        norm_in, act_in, conv_in = self.in_layers
        h = act_in(norm_in(x))
        if self.resample is not None:
            h, x = self.resample(h), self.resample(x)
        h = conv_in(h)
        e = self.emb_layers(emb)[:, :, None, None]
        norm_out, act_out, drop_out, conv_out = self.out_layers
        if self.scale_shift:
            scale, shift = e.chunk(2, dim=1)
            h = norm_out(h) * (1 + scale) + shift
        else:
            h = norm_out(h + e)
        h = conv_out(drop_out(act_out(h)))
        skip = self.skip_connection(x) if hasattr(self, "skip_connection") else x
        return skip + h


class AttentionBlock(nn.Module):
    def __init__(self, c, heads, new_order):
        super().__init__()
        self.heads, self.new_order = heads, new_order
        self.norm = group_norm(c)
        self.qkv = nn.Conv1d(c, 3 * c, 1)
        self.proj_out = zeroed(nn.Conv1d(c, c, 1))

    def forward(self, x):
        b, c, hh, ww = x.shape
        flat = x.reshape(b, c, hh * ww)
        qkv = self.qkv(self.norm(flat))  # [B, 3C, T]
        ch = c // self.heads
        if self.new_order:
            q, k, v = (part.reshape(b * self.heads, ch, -1) for part in qkv.chunk(3, dim=1))
        else:
            q, k, v = qkv.reshape(b * self.heads, 3 * ch, -1).split(ch, dim=1)
        # CompVis scales q and k by ch^(-1/4) each; here the product by ch^(-1/2) once.
        out = attend(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), ch ** -0.5)  # [BH, T, ch]
        out = out.transpose(1, 2).reshape(b, c, -1)
        return (flat + self.proj_out(out)).reshape(b, c, hh, ww)


class CrossAttention(nn.Module):
    def __init__(self, dim, heads, head_dim, context_dim=None):
        super().__init__()
        inner = heads * head_dim
        context_dim = dim if context_dim is None else context_dim
        self.heads, self.head_dim = heads, head_dim
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_k = nn.Linear(context_dim, inner, bias=False)
        self.to_v = nn.Linear(context_dim, inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(0.0))

    def forward(self, x, context=None):
        context = x if context is None else context
        b, t, _ = x.shape

        def heads_first(y):  # [B, L, H*D] -> [B*H, L, D]
            return y.reshape(b, y.shape[1], self.heads, self.head_dim).permute(0, 2, 1, 3).reshape(
                b * self.heads, y.shape[1], self.head_dim)

        out = attend(heads_first(self.to_q(x)), heads_first(self.to_k(context)), heads_first(self.to_v(context)),
                     self.head_dim ** -0.5)
        out = out.reshape(b, self.heads, t, self.head_dim).permute(0, 2, 1, 3).reshape(b, t, -1)
        return self.to_out(out)


class GEGLU(nn.Module):
    def __init__(self, dim_in, dim_out):
        super().__init__()
        self.proj = nn.Linear(dim_in, 2 * dim_out)

    def forward(self, x):
        a, gate = self.proj(x).chunk(2, dim=-1)
        return a * F.gelu(gate)  # exact erf GELU


class FeedForward(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.net = nn.Sequential(GEGLU(dim, 4 * dim), nn.Dropout(0.0), nn.Linear(4 * dim, dim))

    def forward(self, x):
        return self.net(x)


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim, heads, head_dim, context_dim):
        super().__init__()
        self.attn1 = CrossAttention(dim, heads, head_dim)
        self.ff = FeedForward(dim)
        self.attn2 = CrossAttention(dim, heads, head_dim, context_dim)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)

    def forward(self, x, context):
        x = x + self.attn1(self.norm1(x))
        x = x + self.attn2(self.norm2(x), context)
        return x + self.ff(self.norm3(x))


class SpatialTransformer(nn.Module):
    def __init__(self, c, heads, head_dim, depth, context_dim):
        super().__init__()
        inner = heads * head_dim
        self.norm = group_norm(c, eps=1e-6)
        self.proj_in = nn.Conv2d(c, inner, 1)
        self.transformer_blocks = nn.ModuleList(
            [BasicTransformerBlock(inner, heads, head_dim, context_dim) for _ in range(depth)])
        self.proj_out = zeroed(nn.Conv2d(inner, c, 1))

    def forward(self, x, context):
        b, _, hh, ww = x.shape
        h = self.proj_in(self.norm(x))
        tokens = h.flatten(2).transpose(1, 2)  # [B, HW, inner]
        for block in self.transformer_blocks:
            tokens = block(tokens, context)
        h = tokens.transpose(1, 2).reshape(b, -1, hh, ww)
        return x + self.proj_out(h)


class Block(nn.ModuleList):
    """One entry of input_blocks / output_blocks: layers `0`, `1`, ..., each fed what it takes."""

    def forward(self, h, emb, context):
        for layer in self:
            if isinstance(layer, ResBlock):
                h = layer(h, emb)
            elif isinstance(layer, SpatialTransformer):
                h = layer(h, context)
            else:
                h = layer(h)
        return h


def attention_heads(cfg, c, output_block):
    """(heads, head_dim) at width c: CompVis' rule, including its `legacy` head-size quirk."""
    heads, head_channels = cfg["num_heads"], cfg["num_head_channels"]
    if head_channels == -1:
        head_dim = c // heads
    else:
        heads, head_dim = c // head_channels, head_channels
    if cfg["legacy"]:
        head_dim = c // heads if cfg["use_spatial_transformer"] else head_channels
    if cfg["use_spatial_transformer"]:
        return heads, head_dim
    if head_dim != -1:
        return c // head_dim, head_dim
    upsample_heads = cfg["num_heads_upsample"] if cfg["num_heads_upsample"] != -1 else cfg["num_heads"]
    heads = upsample_heads if output_block else cfg["num_heads"]
    return heads, c // heads


DEFAULTS = dict(dropout=0.0, channel_mult=(1, 2, 4, 8), conv_resample=True, num_classes=None, num_heads=-1,
                num_head_channels=-1, num_heads_upsample=-1, use_scale_shift_norm=False, resblock_updown=False,
                use_new_attention_order=False, use_spatial_transformer=False, transformer_depth=1, context_dim=None,
                legacy=True)


class UNetModel(nn.Module):
    def __init__(self, **config):
        super().__init__()
        cfg = {**DEFAULTS, **config}
        self.cfg = cfg
        mc = cfg["model_channels"]
        emb_dim = 4 * mc

        def res(c_in, c_out, **updown):
            return ResBlock(c_in, emb_dim, c_out, cfg["dropout"], cfg["use_scale_shift_norm"], **updown)

        def attention(c, output_block):
            heads, head_dim = attention_heads(cfg, c, output_block)
            if cfg["use_spatial_transformer"]:
                return SpatialTransformer(c, heads, head_dim, cfg["transformer_depth"], cfg["context_dim"])
            return AttentionBlock(c, heads, cfg["use_new_attention_order"])

        self.time_embed = nn.Sequential(nn.Linear(mc, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        if cfg["num_classes"] is not None:
            self.label_emb = nn.Embedding(cfg["num_classes"], emb_dim)
        self.input_blocks = nn.ModuleList([Block([nn.Conv2d(cfg["in_channels"], mc, 3, padding=1)])])
        skips, c, ds = [mc], mc, 1
        levels = list(cfg["channel_mult"])
        for level, mult in enumerate(levels):
            for _ in range(cfg["num_res_blocks"]):
                layers = [res(c, mult * mc)]
                c = mult * mc
                if ds in cfg["attention_resolutions"]:
                    layers.append(attention(c, False))
                self.input_blocks.append(Block(layers))
                skips.append(c)
            if level != len(levels) - 1:
                self.input_blocks.append(Block([res(c, c, down=True) if cfg["resblock_updown"]
                                                else Downsample(c, cfg["conv_resample"])]))
                skips.append(c)
                ds *= 2
        self.middle_block = Block([res(c, c), attention(c, False), res(c, c)])
        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(levels))):
            for i in range(cfg["num_res_blocks"] + 1):
                layers = [res(c + skips.pop(), mult * mc)]
                c = mult * mc
                if ds in cfg["attention_resolutions"]:
                    layers.append(attention(c, True))
                if level > 0 and i == cfg["num_res_blocks"]:
                    layers.append(res(c, c, up=True) if cfg["resblock_updown"] else Upsample(c, cfg["conv_resample"]))
                    ds //= 2
                self.output_blocks.append(Block(layers))
        self.out = nn.Sequential(group_norm(c), nn.SiLU(), zeroed(nn.Conv2d(mc, cfg["out_channels"], 3, padding=1)))

    def forward(self, x, timesteps, context=None, y=None):
        emb = self.time_embed(timestep_embedding(timesteps, self.cfg["model_channels"]).to(x.dtype))
        if y is not None:
            emb = emb + self.label_emb(y.long())
        skips, h = [], x
        for block in self.input_blocks:
            h = block(h, emb, context)
            skips.append(h)
        h = self.middle_block(h, emb, context)
        for block in self.output_blocks:
            h = block(torch.cat([h, skips.pop()], dim=1), emb, context)
        return self.out(h)


class ClassEmbedder(nn.Module):
    def __init__(self, embed_dim, n_classes=1000):
        super().__init__()
        self.embedding = nn.Embedding(n_classes, embed_dim)

    def forward(self, labels):
        return self.embedding(labels.long()[:, None])  # [N, 1, embed_dim]


class SpatialRescaler(nn.Module):
    def __init__(self, n_stages=1, method="bilinear", multiplier=0.5, in_channels=3, out_channels=None, bias=False):
        super().__init__()
        self.n_stages, self.method, self.multiplier = n_stages, method, multiplier
        if out_channels is not None:
            self.channel_mapper = nn.Conv2d(in_channels, out_channels, 1, bias=bias)

    def forward(self, x):
        for _ in range(self.n_stages):
            x = F.interpolate(x, scale_factor=self.multiplier, mode=self.method)
        return self.channel_mapper(x) if hasattr(self, "channel_mapper") else x
