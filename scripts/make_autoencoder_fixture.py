#!/usr/bin/env python3
"""Parity fixtures for the first-stage autoencoders (src/models/autoencoder/).

Uses the PyTorch architecture in autoencoder_reference.py (written from REFERENCE.md, "Autoencoder (first
stage)"), builds tiny random models with the original CompVis key names, and writes
test/fixtures/autoencoder_{kl,vq,resblock}.safetensors: the state dict plus `fixture.*`
tensors (the input and the reference outputs). Tests load the weights with a strict
loadStateDict and compare outputs within 1e-4 relative. Run with /usr/bin/python3 (torch
1.13 CPU); the safetensors format is written by hand.

To stay under 1 MB:
- weights are rounded to float16 and stored as F16 (the values are exact, so the float64
  references are computed from exactly the weights the tests load);
- the VQ model shares the KL model's encoder/decoder body (every tensor whose name and shape
  agree), and its file holds only its own tensors: load `kl` weights, then `vq` weights over them;
- nin_shortcut (a ResnetBlock that changes width) has its own small fixture, since a model
  with a 64-channel level would not fit.

The reverse direction: `--check-ours DIR` loads DIR/ours_{kl,vq}.safetensors (our stateDict plus
our outputs on the fixture input, written by the parity test when LDM_AUTOENCODER_OURS_DIR=DIR)
into these PyTorch models with strict=True and compares the outputs.
"""
import argparse
import pathlib
import sys

import torch
from torch import nn

from autoencoder_reference import AutoencoderKL, ResnetBlock, VQModel, kl_divergence
from safetensors_file import read_safetensors, write_safetensors

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "test" / "fixtures"

KL_DDCONFIG = dict(double_z=True, z_channels=4, resolution=16, in_channels=3, out_ch=3, ch=32,
                   ch_mult=[1, 1], num_res_blocks=1, attn_resolutions=[8], dropout=0.0)
KL_EMBED_DIM = 4
VQ_DDCONFIG = dict(KL_DDCONFIG, double_z=False, in_channels=1, out_ch=1)
VQ_EMBED_DIM = 3
VQ_N_EMBED = 16
BATCH = 2


# ---- fixtures ----

def randomize(model, generator):
    """Default conv init, then float16-exact weights and non-trivial GroupNorm affines."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.GroupNorm):
                module.weight.copy_(1 + 0.3 * torch.randn(module.weight.shape, generator=generator))
                module.bias.copy_(0.3 * torch.randn(module.bias.shape, generator=generator))
        for p in model.parameters():
            p.copy_(p.half().float())


def half_state(model):
    return {k: v.half() for k, v in model.state_dict().items()}


def make_kl(generator):
    model = AutoencoderKL(KL_DDCONFIG, KL_EMBED_DIM)
    randomize(model, generator)
    x = torch.rand(BATCH, 3, 16, 16, generator=generator) * 2 - 1
    ref = model.double()
    with torch.no_grad():
        mean, logvar = ref.encode(x.double())
        out = {"fixture.input": x, "fixture.mean": mean, "fixture.logvar": logvar,
               "fixture.kl": kl_divergence(mean, logvar), "fixture.decoded": ref.decode(mean)}
    model.float()
    return model, {k: v.float() for k, v in out.items()}


def make_vq(kl_model, generator):
    model = VQModel(VQ_DDCONFIG, VQ_EMBED_DIM, VQ_N_EMBED)
    randomize(model, generator)
    kl_state = kl_model.state_dict()
    shared = {k: v for k, v in model.state_dict().items() if k in kl_state and kl_state[k].shape == v.shape}
    model.load_state_dict({**model.state_dict(), **{k: kl_state[k] for k in shared}})
    x = torch.rand(BATCH, 1, 16, 16, generator=generator) * 2 - 1
    ref = model.double()
    with torch.no_grad():
        prequant = ref.quant_conv(ref.encoder(x.double()))
        # Codes near the latents (so that several are used), float16-exact; retry until every
        # position's nearest code wins by a clear margin, so float32 rounding cannot flip it.
        vectors = prequant.permute(0, 2, 3, 1).reshape(-1, VQ_EMBED_DIM)
        for _ in range(100):
            picks = vectors[torch.randperm(len(vectors), generator=generator)[:VQ_N_EMBED]]
            codes = (picks + 0.1 * vectors.std() * torch.randn(picks.shape, generator=generator, dtype=picks.dtype))
            ref.quantize.embedding.weight.copy_(codes.half().double())
            d = ref.quantize.distances(prequant).sort(dim=1).values
            if bool(((d[:, 1] - d[:, 0]) > 1e-3 * d[:, 1].max()).all()):
                break
        else:
            sys.exit("make_vq: no codebook with clear nearest codes")
        quantized, loss, indices = ref.quantize(prequant, legacy=True)
        out = {"fixture.input": x, "fixture.prequant": prequant, "fixture.quantized": quantized,
               "fixture.loss": loss, "fixture.decoded": ref.decode(quantized)}
    # Both commitment forms have the same value; their gradients differ.
    for legacy, form in ((True, "legacy"), (False, "corrected")):
        z = prequant.clone().requires_grad_(True)
        ref.zero_grad()
        ref.quantize(z, legacy=legacy)[1].backward()
        out[f"fixture.grad_z_{form}"] = z.grad
        out[f"fixture.grad_codebook_{form}"] = ref.quantize.embedding.weight.grad.clone()
    # The straight-through estimator: d/dz of mean(decode(quantize(z))^2) passes the decoder's gradient to z.
    z = prequant.clone().requires_grad_(True)
    ref.decode(ref.quantize(z, legacy=True)[0]).pow(2).mean().backward()
    out["fixture.grad_z_straight_through"] = z.grad
    model.float()
    own = {k: v for k, v in half_state(model).items() if k not in shared}
    return model, own, {**{k: v.float() for k, v in out.items()}, "fixture.indices": indices}


def make_resblock(generator):
    block = ResnetBlock(32, 64)
    randomize(block, generator)
    x = torch.randn(BATCH, 32, 8, 8, generator=generator)
    with torch.no_grad():
        y = block.double()(x.double()).float()
    block.float()
    return {**half_state(block), "fixture.input": x, "fixture.output": y}


def max_relative_error(ours, reference):
    return float((ours.double() - reference.double()).abs().max() / reference.double().abs().max())


def check_ours(directory):
    """Loads our state dicts into the PyTorch models (strict) and compares our outputs with theirs."""
    worst = 0.0
    for name in ("kl", "vq"):
        tensors = read_safetensors(pathlib.Path(directory) / f"ours_{name}.safetensors")
        weights = {k: v for k, v in tensors.items() if not k.startswith("fixture.")}
        model = (AutoencoderKL(KL_DDCONFIG, KL_EMBED_DIM) if name == "kl"
                 else VQModel(VQ_DDCONFIG, VQ_EMBED_DIM, VQ_N_EMBED)).double()
        model.load_state_dict({k: v.double() for k, v in weights.items()}, strict=True)
        x = tensors["fixture.input"].double()
        with torch.no_grad():
            if name == "kl":
                mean, logvar = model.encode(x)
                theirs = {"mean": mean, "logvar": logvar, "decoded": model.decode(mean)}
            else:
                prequant = model.quant_conv(model.encoder(x))
                quantized, loss, indices = model.quantize(prequant, legacy=True)
                theirs = {"prequant": prequant, "quantized": quantized, "loss": loss,
                          "decoded": model.decode(quantized), "indices": indices}
        for key, value in theirs.items():
            ours = tensors[f"fixture.{key}"]
            if key == "indices":
                mismatched = int((ours.long().reshape(value.shape) != value).sum())
                print(f"ours_{name} {key}: {mismatched} of {value.numel()} differ")
                worst = max(worst, 1.0 if mismatched else 0.0)
            else:
                err = max_relative_error(ours, value)
                print(f"ours_{name} {key}: max relative error {err:.2e}")
                worst = max(worst, err)
    print("OK" if worst <= 1e-4 else "MISMATCH")
    return 0 if worst <= 1e-4 else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check-ours", metavar="DIR", help="check our state dicts and outputs in DIR instead")
    args = parser.parse_args()
    if args.check_ours:
        sys.exit(check_ours(args.check_ours))
    generator = torch.Generator().manual_seed(20220420)
    torch.manual_seed(0)  # the default nn init
    kl_model, kl_out = make_kl(generator)
    _, vq_own, vq_out = make_vq(kl_model, generator)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    write_safetensors(FIXTURES / "autoencoder_kl.safetensors", {**half_state(kl_model), **kl_out})
    write_safetensors(FIXTURES / "autoencoder_vq.safetensors", {**vq_own, **vq_out})
    write_safetensors(FIXTURES / "autoencoder_resblock.safetensors", make_resblock(generator))
    total = sum(p.stat().st_size for p in FIXTURES.glob("autoencoder_*.safetensors"))
    print(f"wrote {FIXTURES}/autoencoder_{{kl,vq,resblock}}.safetensors ({total / 1024:.0f} KiB); "
          f"VQ codes used: {len(vq_out['fixture.indices'].unique())} of {VQ_N_EMBED}")


if __name__ == "__main__":
    main()
