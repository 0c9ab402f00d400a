#!/usr/bin/env python3
"""Parity fixture for the diffusion U-Net and the conditioning stages (src/models/unet/,
src/models/encoders/).

Uses the PyTorch architecture in unet_reference.py (written from REFERENCE.md, "U-Net"), builds
tiny random models with the original CompVis key names, and writes test/fixtures/unet.safetensors:
- `<name>.<key>`: the weights of each U-Net config (CONFIGS), float16-exact and stored as F16;
- `<name>.fixture.*`: inputs, float64 reference outputs (stored as F32) and, for some configs,
  the gradients of sum(output * probe) with respect to the inputs;
- `rescaler.<case>.*`: SpatialRescaler inputs, channel_mapper weights and outputs;
- metadata: each config (JSON) and their order, each config's state-dict keys in PyTorch's order, the keys,
  shapes and parameter count of the MNIST-latent config (too large to store weights of), and the
  SpatialRescaler settings.

Every parameter is random, the layers CompVis zero-initialises included (else the output would be
0), and GroupNorm/LayerNorm affines are non-trivial. To stay under 1 MB, a config stores only the
tensors it does not share (same key and shape) with an earlier one: a test builds config X's state
dict from `X.<key>`, else from the first earlier config (in CONFIGS order) holding that key with the
same shape. Run with /usr/bin/python3.
"""
import json
import pathlib

import torch
from torch import nn

from safetensors_file import write_safetensors
from unet_reference import SpatialRescaler, UNetModel

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "test" / "fixtures" / "unet.safetensors"

TINY = dict(in_channels=4, model_channels=32, num_res_blocks=1, channel_mult=[1, 1])
CONFIGS = {
    # (a) spatial transformers with cross-attention, heads from num_head_channels, plain ResBlocks,
    # Downsample/Upsample with convs.
    "cross": dict(TINY, out_channels=3, attention_resolutions=[2], num_head_channels=16,
                  use_spatial_transformer=True, transformer_depth=1, context_dim=24),
    # (b) legacy AttentionBlock with num_heads (and num_heads_upsample in the output blocks),
    # scale-shift norm, resampling ResBlocks, ADM class embedding.
    "adm": dict(TINY, out_channels=4, attention_resolutions=[2], num_heads=2, num_heads_upsample=1,
                use_scale_shift_norm=True, resblock_updown=True, num_classes=5),
    # (c) new attention head order at both levels, no resampling convs (average pooling, nearest x2).
    "pool": dict(TINY, out_channels=4, attention_resolutions=[1, 2], num_heads=4, use_new_attention_order=True,
                 legacy=False, conv_resample=False),
}
INPUTS = {
    "cross": dict(timesteps=[3.0, 917.0], context_tokens=3),
    "adm": dict(timesteps=[0.0, 499.0], labels=[1, 4]),
    "pool": dict(timesteps=[999.0, 42.0]),
}
WITH_GRADIENTS = ("cross", "adm")
MNIST = dict(in_channels=3, out_channels=3, model_channels=64, channel_mult=[1, 2], num_res_blocks=2,
             attention_resolutions=[1, 2], num_head_channels=32, use_spatial_transformer=True, transformer_depth=1,
             context_dim=64)
BATCH, SIZE = 2, 8

RESCALER_INPUT = (2, 3, 9, 11)
RESCALERS = {
    "bilinear2": dict(n_stages=2, method="bilinear", multiplier=0.5, in_channels=3, out_channels=5, bias=True),
    "bilinear_up": dict(n_stages=1, method="bilinear", multiplier=1.5, in_channels=3),
    "nearest": dict(n_stages=1, method="nearest", multiplier=0.75, in_channels=3),
    "bicubic": dict(n_stages=1, method="bicubic", multiplier=0.5, in_channels=3, out_channels=2),
    "area": dict(n_stages=2, method="area", multiplier=0.5, in_channels=3),
}


def randomize(model, generator):
    """Re-initialises zero-initialised layers, gives norms non-trivial affines, rounds to float16."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear)) and not module.weight.any():
                module.reset_parameters()
            if isinstance(module, (nn.GroupNorm, nn.LayerNorm)):
                module.weight.copy_(1 + 0.3 * torch.randn(module.weight.shape, generator=generator))
                module.bias.copy_(0.3 * torch.randn(module.bias.shape, generator=generator))
        for p in model.parameters():
            p.copy_(p.half().float())


def shared_value(key, shape, earlier):
    """The tensor of the first earlier state dict with this key and shape, or None."""
    for state in earlier:
        if key in state and state[key].shape == shape:
            return state[key]
    return None


def make_unet(name, earlier, generator):
    """Config `name`'s own tensors, its fixture tensors, its full state dict and its keys."""
    model = UNetModel(**CONFIGS[name])
    randomize(model, generator)
    state = model.state_dict()
    shared = {k: shared_value(k, v.shape, earlier) for k, v in state.items()}
    shared = {k: v for k, v in shared.items() if v is not None}
    model.load_state_dict({**state, **shared})
    spec = INPUTS[name]
    inputs = {"x": torch.randn(BATCH, CONFIGS[name]["in_channels"], SIZE, SIZE, generator=generator),
              "timesteps": torch.tensor(spec["timesteps"])}
    if "context_tokens" in spec:
        inputs["context"] = torch.randn(BATCH, spec["context_tokens"], CONFIGS[name]["context_dim"],
                                        generator=generator)
    if "labels" in spec:
        inputs["y"] = torch.tensor(spec["labels"], dtype=torch.float32)
    ref = model.double().eval()
    x = inputs["x"].double().requires_grad_(True)
    context = inputs["context"].double().requires_grad_(True) if "context" in inputs else None
    out = ref(x, inputs["timesteps"].double(), context=context, y=inputs.get("y"))
    fixture = {**inputs, "output": out.detach()}
    if name in WITH_GRADIENTS:
        probe = torch.randn(out.shape, generator=generator)
        (out * probe.double()).sum().backward()
        fixture["probe"] = probe
        fixture["grad_x"] = x.grad
        if context is not None:
            fixture["grad_context"] = context.grad
    model.float()
    own = {f"{name}.{k}": v.half() for k, v in model.state_dict().items() if k not in shared}
    tensors = {**own, **{f"{name}.fixture.{k}": v.float() for k, v in fixture.items()}}
    return tensors, model.state_dict(), list(state.keys())


def make_rescalers(generator):
    tensors = {}
    x = torch.rand(*RESCALER_INPUT, generator=generator)
    tensors["rescaler.input"] = x
    for name, params in RESCALERS.items():
        module = SpatialRescaler(**params)
        randomize(module, generator)
        with torch.no_grad():  # float32, as the real thing runs (nearest indices depend on it)
            tensors[f"rescaler.{name}.output"] = module(x)
        tensors.update({f"rescaler.{name}.{k}": v.half() for k, v in module.state_dict().items()})
    return tensors


def main():
    generator = torch.Generator().manual_seed(20220613)
    torch.manual_seed(0)  # the default nn init
    tensors, earlier, metadata = {}, [], {}
    for name in CONFIGS:
        own, state, keys = make_unet(name, earlier, generator)
        tensors.update(own)
        earlier.append(state)
        metadata[f"config.{name}"] = json.dumps(CONFIGS[name])
        metadata[f"keys.{name}"] = json.dumps(keys)
    tensors.update(make_rescalers(generator))
    mnist = UNetModel(**MNIST)
    metadata["config.mnist"] = json.dumps(MNIST)
    metadata["shapes.mnist"] = json.dumps({k: list(v.shape) for k, v in mnist.state_dict().items()})
    metadata["parameters.mnist"] = str(sum(p.numel() for p in mnist.parameters()))
    metadata["rescalers"] = json.dumps(RESCALERS)
    metadata["order"] = json.dumps(list(CONFIGS))
    write_safetensors(FIXTURE, tensors, metadata)
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size / 1024:.0f} KiB); MNIST config parameters: "
          f"{metadata['parameters.mnist']}")


if __name__ == "__main__":
    main()
