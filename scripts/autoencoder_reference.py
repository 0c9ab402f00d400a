"""The first-stage autoencoder in PyTorch, written from the facts in REFERENCE.md ("Autoencoder
(first stage)"), with the CompVis parameter names; and safetensors read/write by hand (no
safetensors package here). Used by make_autoencoder_fixture.py.
"""

import torch
import torch.nn.functional as F
from torch import nn


# ---- the architecture ----

def normalize(channels):
    return nn.GroupNorm(32, channels, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):
    def __init__(self, c_in, c_out, dropout=0.0):
        super().__init__()
        self.norm1 = normalize(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm2 = normalize(c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        if c_in != c_out:
            self.nin_shortcut = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return (self.nin_shortcut(x) if hasattr(self, "nin_shortcut") else x) + h


class AttnBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = normalize(c)
        self.q, self.k, self.v, self.proj_out = (nn.Conv2d(c, c, 1) for _ in range(4))

    def forward(self, x):
        b, c, h, w = x.shape
        n = self.norm(x)
        q = self.q(n).reshape(b, c, h * w).transpose(1, 2)  # [B, HW, C]
        k = self.k(n).reshape(b, c, h * w)  # [B, C, HW]
        v = self.v(n).reshape(b, c, h * w).transpose(1, 2)  # [B, HW, C]
        weights = torch.softmax(torch.bmm(q, k) * c ** -0.5, dim=2)  # [B, HW(query), HW(key)]
        out = torch.bmm(weights, v).transpose(1, 2).reshape(b, c, h, w)
        return x + self.proj_out(out)


class Downsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=0)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1)))  # (left, right, top, bottom)


class Upsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def mid_block(c, dropout):
    mid = nn.Module()
    mid.block_1 = ResnetBlock(c, c, dropout)
    mid.attn_1 = AttnBlock(c)
    mid.block_2 = ResnetBlock(c, c, dropout)
    return mid


def run_mid(mid, h):
    return mid.block_2(mid.attn_1(mid.block_1(h)))


class Encoder(nn.Module):
    def __init__(self, double_z, z_channels, resolution, in_channels, out_ch, ch, ch_mult,
                 num_res_blocks, attn_resolutions, dropout):
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, ch, 3, padding=1)
        self.down = nn.ModuleList()
        res, c = resolution, ch
        for i, mult in enumerate(ch_mult):
            level = nn.Module()
            level.block, level.attn = nn.ModuleList(), nn.ModuleList()
            for _ in range(num_res_blocks):
                level.block.append(ResnetBlock(c, ch * mult, dropout))
                c = ch * mult
                if res in attn_resolutions:
                    level.attn.append(AttnBlock(c))
            if i != len(ch_mult) - 1:
                level.downsample = Downsample(c)
                res //= 2
            self.down.append(level)
        self.mid = mid_block(c, dropout)
        self.norm_out = normalize(c)
        self.conv_out = nn.Conv2d(c, 2 * z_channels if double_z else z_channels, 3, padding=1)

    def forward(self, x):
        h = self.conv_in(x)
        for level in self.down:
            for j, block in enumerate(level.block):
                h = block(h)
                if len(level.attn) > 0:
                    h = level.attn[j](h)
            if hasattr(level, "downsample"):
                h = level.downsample(h)
        return self.conv_out(F.silu(self.norm_out(run_mid(self.mid, h))))


class Decoder(nn.Module):
    def __init__(self, double_z, z_channels, resolution, in_channels, out_ch, ch, ch_mult,
                 num_res_blocks, attn_resolutions, dropout):
        super().__init__()
        c = ch * ch_mult[-1]
        res = resolution // 2 ** (len(ch_mult) - 1)
        self.conv_in = nn.Conv2d(z_channels, c, 3, padding=1)
        self.mid = mid_block(c, dropout)
        levels = [None] * len(ch_mult)
        for i in reversed(range(len(ch_mult))):
            level = nn.Module()
            level.block, level.attn = nn.ModuleList(), nn.ModuleList()
            for _ in range(num_res_blocks + 1):
                level.block.append(ResnetBlock(c, ch * ch_mult[i], dropout))
                c = ch * ch_mult[i]
                if res in attn_resolutions:
                    level.attn.append(AttnBlock(c))
            if i != 0:
                level.upsample = Upsample(c)
                res *= 2
            levels[i] = level
        self.up = nn.ModuleList(levels)  # up.0 is full resolution
        self.norm_out = normalize(c)
        self.conv_out = nn.Conv2d(c, out_ch, 3, padding=1)

    def forward(self, z):
        h = run_mid(self.mid, self.conv_in(z))
        for i in reversed(range(len(self.up))):
            level = self.up[i]
            for j, block in enumerate(level.block):
                h = block(h)
                if len(level.attn) > 0:
                    h = level.attn[j](h)
            if hasattr(level, "upsample"):
                h = level.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class AutoencoderKL(nn.Module):
    def __init__(self, ddconfig, embed_dim):
        super().__init__()
        self.encoder = Encoder(**ddconfig)
        self.decoder = Decoder(**ddconfig)
        z = ddconfig["z_channels"]
        self.quant_conv = nn.Conv2d(2 * z, 2 * embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(embed_dim, z, 1)

    def encode(self, x):
        """Posterior mean and clamped log-variance."""
        mean, logvar = torch.chunk(self.quant_conv(self.encoder(x)), 2, dim=1)
        return mean, torch.clamp(logvar, -30.0, 20.0)

    def decode(self, z):
        return self.decoder(self.post_quant_conv(z))


def kl_divergence(mean, logvar):
    return 0.5 * torch.sum(mean ** 2 + torch.exp(logvar) - 1.0 - logvar, dim=[1, 2, 3])


class VectorQuantizer(nn.Module):
    def __init__(self, n_embed, embed_dim, beta=0.25):
        super().__init__()
        self.beta = beta
        self.embedding = nn.Embedding(n_embed, embed_dim)

    def distances(self, z):
        """Squared distances [B*h*w, n_embed] from each latent vector to each code."""
        flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
        return torch.cdist(flat, self.embedding.weight) ** 2

    def forward(self, z, legacy):
        b, c, h, w = z.shape
        indices = torch.argmin(self.distances(z), dim=1)
        zq = self.embedding(indices).reshape(b, h, w, c).permute(0, 3, 1, 2)
        commitment = torch.mean((zq.detach() - z) ** 2)
        codebook = torch.mean((zq - z.detach()) ** 2)
        loss = commitment + self.beta * codebook if legacy else self.beta * commitment + codebook
        return z + (zq - z).detach(), loss, indices.reshape(b, h, w)


class VQModel(nn.Module):
    def __init__(self, ddconfig, embed_dim, n_embed):
        super().__init__()
        self.encoder = Encoder(**ddconfig)
        self.decoder = Decoder(**ddconfig)
        self.quantize = VectorQuantizer(n_embed, embed_dim)
        self.quant_conv = nn.Conv2d(ddconfig["z_channels"], embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(embed_dim, ddconfig["z_channels"], 1)

    def decode(self, quantized):
        return self.decoder(self.post_quant_conv(quantized))


# ---- safetensors, by hand ----

