#!/usr/bin/env python3
"""Writes test/fixtures/losses_parity.safetensors: PyTorch references for src/models/losses.

Run with `/usr/bin/python3 scripts/make_losses_fixture.py` (needs torch only). The PatchGAN
discriminator, the GAN losses, SSIM, LPIPS and the KL and VQ first-stage losses are written
here from the published formulas (taming-transformers / LDM facts, not their code), in float64
from float32 inputs, so a parity error measures our float32 error alone.

Stored tensors (float32):
  disc.init.<key>        the discriminator's initial state dict (keys as in the original)
  disc.x, disc.logits    logits of D in training mode; disc.logits_eval: eval mode afterwards
  disc.running.<key>     BatchNorm running statistics after the training-mode call
  <case>.<input>         inputs of each loss case: x, h (decoder input), W, b (the tiny decoder
                         conv_out), post_mean, post_logvar (KL) or q (VQ codebook), weights
  <case>.g.loss, <case>.g.grad_<input>   generator phase: total loss, its gradients (TRAINED inputs)
  <case>.d.loss, <case>.d.grad.<key>     discriminator phase: loss, gradients of D's parameters
  <case>.running.<key>   BatchNorm running statistics after both phases
  lpips.x, lpips.y, lpips.out, lpips.grad_y   LPIPS with the formula weights of lpips_weight()
The `__metadata__` maps each case to JSON: the lossconfig (target, params), global_step, and
the expected log of each phase.
"""
import json
import math
import pathlib

import torch
from safetensors_file import write_safetensors
import torch.nn.functional as F

OUT_PATH = pathlib.Path(__file__).resolve().parent.parent / 'test' / 'fixtures' / 'losses_parity.safetensors'
torch.manual_seed(20240611)
tensors = {}
metadata = {}


# ---- discriminator (PatchGAN, pix2pix) ----

class NLayerDiscriminator(torch.nn.Module):
    def __init__(self, input_nc, ndf, n_layers):
        super().__init__()
        layers = [torch.nn.Conv2d(input_nc, ndf, 4, 2, 1), torch.nn.LeakyReLU(0.2)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2 ** n, 8)
            layers += [torch.nn.Conv2d(ndf * prev, ndf * mult, 4, 2, 1, bias=False),
                       torch.nn.BatchNorm2d(ndf * mult), torch.nn.LeakyReLU(0.2)]
        prev, mult = mult, min(2 ** n_layers, 8)
        layers += [torch.nn.Conv2d(ndf * prev, ndf * mult, 4, 1, 1, bias=False),
                   torch.nn.BatchNorm2d(ndf * mult), torch.nn.LeakyReLU(0.2)]
        layers += [torch.nn.Conv2d(ndf * mult, 1, 4, 1, 1)]
        self.main = torch.nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.normal_(m.weight, 0.0, 0.02)
            elif isinstance(m, torch.nn.BatchNorm2d):
                torch.nn.init.normal_(m.weight, 1.0, 0.02)
                torch.nn.init.constant_(m.bias, 0.0)

    def forward(self, x):
        return self.main(x)


def fresh_discriminator(init_state):
    d = NLayerDiscriminator(3, NDF, N_LAYERS)
    d.load_state_dict(init_state)
    return d.double().train()


def running_stats(d):
    return {k: v.float() for k, v in d.state_dict().items() if 'running' in k}


# ---- GAN losses and weights ----

def hinge_d_loss(real, fake):
    return 0.5 * (torch.mean(F.relu(1.0 - real)) + torch.mean(F.relu(1.0 + fake)))


def vanilla_d_loss(real, fake):
    return 0.5 * (torch.mean(F.softplus(-real)) + torch.mean(F.softplus(fake)))


def adopt_weight(weight, step, threshold):
    return 0.0 if step < threshold else weight


def adaptive_weight(nll, g_loss, last_layer, disc_weight):
    nll_grads = torch.autograd.grad(nll, last_layer, retain_graph=True)[0]
    g_grads = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
    d_weight = torch.norm(nll_grads) / (torch.norm(g_grads) + 1e-4)
    return torch.clamp(d_weight, 0.0, 1e4).detach() * disc_weight


# ---- perceptual terms ----

def ssim_loss(x, y, window=11, sigma=1.5, data_range=2.0):
    """1 - mean SSIM per sample, Gaussian window, no padding: [N, 1, 1, 1]."""
    n, c, h, w = x.shape
    g = torch.exp(-(torch.arange(window, dtype=x.dtype) - (window - 1) / 2) ** 2 / (2 * sigma ** 2))
    g = g / g.sum()

    def blur(t):
        t = t.reshape(n * c, 1, h, w)
        return F.conv2d(F.conv2d(t, g.view(1, 1, 1, -1)), g.view(1, 1, -1, 1))

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x ** 2
    var_y = blur(y * y) - mu_y ** 2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return (1 - s.reshape(n, -1).mean(1)).reshape(n, 1, 1, 1)


VGG_CONVS = [(0, 3, 64), (2, 64, 64), (5, 64, 128), (7, 128, 128), (10, 128, 256), (12, 256, 256),
             (14, 256, 256), (17, 256, 512), (19, 512, 512), (21, 512, 512), (24, 512, 512),
             (26, 512, 512), (28, 512, 512)]
TAPS = [2, 7, 14, 21, 28]  # the conv whose ReLU output LPIPS compares (relu1_2 ... relu5_3)
POOLS_BEFORE = [5, 10, 17, 24]


def lpips_weight(t, shape, kind):
    """Deterministic weights from sin, reproduced by the TypeScript test: tensor number t."""
    k = torch.arange(math.prod(shape), dtype=torch.float64)
    s = torch.sin(0.7 * k + 1.3 * t)
    if kind == 'weight':
        fan_in = math.prod(shape[1:])
        v = 2.0 / math.sqrt(fan_in) * s
    elif kind == 'bias':
        v = 0.01 * s
    else:  # lin: non-negative, summing to about 1
        v = (1.0 + s) / shape[1]
    return v.float().reshape(shape)


def lpips_state():
    state, t = {}, 0
    for index, cin, cout in VGG_CONVS:
        state[f'features.{index}.weight'] = lpips_weight(t, (cout, cin, 3, 3), 'weight')
        state[f'features.{index}.bias'] = lpips_weight(t + 1, (cout,), 'bias')
        t += 2
    for i, c in enumerate([64, 128, 256, 512, 512]):
        state[f'lin{i}.model.1.weight'] = lpips_weight(t, (1, c, 1, 1), 'lin')
        t += 1
    return state


def lpips(x, y, state):
    shift = torch.tensor([-0.030, -0.088, -0.188], dtype=x.dtype).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450], dtype=x.dtype).view(1, 3, 1, 1)
    a, b = (x - shift) / scale, (y - shift) / scale
    total, tap = 0, 0
    for index, _, _ in VGG_CONVS:
        if index in POOLS_BEFORE:
            a, b = F.max_pool2d(a, 2), F.max_pool2d(b, 2)
        w, bias = state[f'features.{index}.weight'].double(), state[f'features.{index}.bias'].double()
        a, b = F.relu(F.conv2d(a, w, bias, padding=1)), F.relu(F.conv2d(b, w, bias, padding=1))
        if index in TAPS:
            na = a / (torch.sqrt(torch.sum(a ** 2, 1, keepdim=True)) + 1e-10)
            nb = b / (torch.sqrt(torch.sum(b ** 2, 1, keepdim=True)) + 1e-10)
            lin = state[f'lin{tap}.model.1.weight'].double()
            total = total + F.conv2d((na - nb) ** 2, lin).mean([2, 3], keepdim=True)
            tap += 1
    return total


# ---- the first-stage losses ----

def reconstruction(x, recon, p):
    diff = x - recon
    rec = diff.abs() if p.get('pixel_loss', 'l1') == 'l1' else diff ** 2
    p_loss = None
    if p.get('perceptual_weight', 1.0) > 0 and p.get('perceptual_loss', 'ssim') != 'none':
        p_loss = ssim_loss(x, recon)
        rec = rec + p.get('perceptual_weight', 1.0) * p_loss
    return rec, p_loss


def d_loss_fn(p):
    return hinge_d_loss if p.get('disc_loss', 'hinge') == 'hinge' else vanilla_d_loss


def generator_phase(kind, p, t, d, step):
    """The autoencoder's loss; t holds float64 leaves. Returns (loss, log)."""
    x = t['x']
    recon = F.conv2d(t['h'], t['W'], t['b'])
    rec, p_loss = reconstruction(x, recon, p)
    n = x.shape[0]
    if kind == 'kl':
        logvar = t['logvar']
        nll = rec / torch.exp(logvar) + logvar
        nll_loss = torch.sum(nll) / n
        weighted = torch.sum(nll * t['weights']) / n if 'weights' in t else nll_loss
        kl = 0.5 * torch.sum(t['post_mean'] ** 2 + torch.exp(t['post_logvar']) - 1 - t['post_logvar'], [1, 2, 3])
        kl_loss = torch.sum(kl) / n
    else:
        nll_loss = torch.mean(rec)
        codebook_loss = torch.mean(t['q'] ** 2)
    for param in d.parameters():
        param.requires_grad_(False)
    g_loss = -torch.mean(d(recon))
    disc_factor = adopt_weight(p.get('disc_factor', 1.0), step, p['disc_start'])
    d_weight = adaptive_weight(nll_loss, g_loss, t['W'], p['disc_weight']) if disc_factor > 0 else torch.tensor(0.0)
    if kind == 'kl':
        loss = weighted + p['kl_weight'] * kl_loss + d_weight * disc_factor * g_loss
        log = {'total_loss': loss, 'logvar': logvar, 'kl_loss': kl_loss, 'nll_loss': nll_loss,
               'rec_loss': rec.mean()}
    else:
        loss = nll_loss + d_weight * disc_factor * g_loss + p.get('codebook_weight', 1.0) * codebook_loss
        log = {'total_loss': loss, 'quant_loss': codebook_loss, 'nll_loss': nll_loss, 'rec_loss': rec.mean(),
               'p_loss': p_loss.mean() if p_loss is not None else torch.tensor(0.0)}
    log.update({'d_weight': d_weight, 'disc_factor': torch.tensor(disc_factor), 'g_loss': g_loss})
    for param in d.parameters():
        param.requires_grad_(True)
    return loss, {k: float(v) for k, v in log.items()}


def discriminator_phase(p, t, d, step):
    recon = F.conv2d(t['h'], t['W'], t['b']).detach()
    logits_real = d(t['x'].detach())
    logits_fake = d(recon)
    disc_factor = adopt_weight(p.get('disc_factor', 1.0), step, p['disc_start'])
    loss = disc_factor * d_loss_fn(p)(logits_real, logits_fake)
    log = {'disc_loss': float(loss), 'logits_real': float(logits_real.mean()), 'logits_fake': float(logits_fake.mean())}
    return loss, log


# The leaves whose gradients are recorded: the tiny decoder's conv_out, logvar, the posterior, the codebook.
TRAINED = {'W', 'b', 'logvar', 'post_mean', 'post_logvar', 'q'}


def loss_case(name, kind, params, step, inputs):
    """Runs both phases on a fresh discriminator; stores inputs, losses, gradients and logs."""
    t = {k: v.double().requires_grad_(k in TRAINED) for k, v in inputs.items()}
    d = fresh_discriminator(disc_init)
    loss, g_log = generator_phase(kind, params, t, d, step)
    leaves = sorted(k for k in t if k in TRAINED)
    grads = torch.autograd.grad(loss, [t[k] for k in leaves], allow_unused=True)
    d_loss, d_log = discriminator_phase(params, t, d, step)
    keys = [k for k, _ in d.named_parameters()]
    d_grads = torch.autograd.grad(d_loss, list(d.parameters()))
    for k, v in inputs.items():
        tensors[f'{name}.{k}'] = v
    tensors[f'{name}.g.loss'] = loss.detach().float().reshape(1)
    for k, g in zip(leaves, grads):
        if g is not None:
            tensors[f'{name}.g.grad_{k}'] = g.float()
    tensors[f'{name}.d.loss'] = d_loss.detach().float().reshape(1)
    for k, g in zip(keys, d_grads):
        tensors[f'{name}.d.grad.{k}'] = g.float()
    for k, v in running_stats(d).items():
        tensors[f'{name}.running.{k}'] = v
    target = {'kl': 'ldm.modules.losses.contperceptual.LPIPSWithDiscriminator',
              'vq': 'ldm.modules.losses.vqperceptual.VQLPIPSWithDiscriminator'}[kind]
    metadata[name] = json.dumps({'target': target, 'params': params, 'global_step': step,
                                 'generator_log': g_log, 'discriminator_log': d_log,
                                 'grads': [k for k, g in zip(leaves, grads) if g is not None]})
    print(name, 'generator', g_log, 'discriminator', d_log)


# ---- cases ----

NDF, N_LAYERS = 4, 3
disc_init = NLayerDiscriminator(3, NDF, N_LAYERS).state_dict()
for k, v in disc_init.items():
    tensors[f'disc.init.{k}'] = v.float()

x = torch.rand(2, 3, 32, 32) * 2 - 1
d = fresh_discriminator(disc_init)
tensors['disc.x'] = x
tensors['disc.logits'] = d(x.double()).detach().float()
for k, v in running_stats(d).items():
    tensors[f'disc.running.{k}'] = v
tensors['disc.logits_eval'] = d.eval()(x.double()).detach().float()


def decoder_inputs():
    return {'x': torch.rand(2, 3, 32, 32) * 2 - 1, 'h': torch.randn(2, 4, 32, 32),
            'W': torch.randn(3, 4, 1, 1) * 0.3, 'b': torch.randn(3) * 0.1}


kl_inputs = {**decoder_inputs(), 'post_mean': torch.randn(2, 2, 8, 8), 'post_logvar': torch.randn(2, 2, 8, 8) * 0.5,
             'logvar': torch.tensor(0.3)}
loss_case('kl_ssim_hinge', 'kl', {'disc_start': 5, 'kl_weight': 0.01, 'disc_weight': 0.5, 'logvar_init': 0.3,
                                  'disc_ndf': NDF, 'perceptual_weight': 1.0}, 10, kl_inputs)
kl_inputs = {**decoder_inputs(), 'post_mean': torch.randn(2, 2, 8, 8), 'post_logvar': torch.randn(2, 2, 8, 8) * 0.5,
             'logvar': torch.tensor(-0.2), 'weights': torch.rand(2, 1, 32, 32) + 0.5}
loss_case('kl_l2_vanilla', 'kl', {'disc_start': 0, 'kl_weight': 1e-3, 'disc_weight': 0.8, 'logvar_init': -0.2,
                                  'disc_ndf': NDF, 'disc_loss': 'vanilla', 'pixel_loss': 'l2',
                                  'perceptual_loss': 'none', 'disc_factor': 0.7}, 3, kl_inputs)
vq_inputs = {**decoder_inputs(), 'q': torch.randn(2, 4)}
loss_case('vq_ssim_hinge', 'vq', {'disc_start': 1, 'codebook_weight': 0.5, 'disc_weight': 0.75, 'disc_ndf': NDF,
                                  'perceptual_weight': 0.8}, 1, vq_inputs)

state = lpips_state()
lx, ly = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
y64 = ly.double().requires_grad_()
out = lpips(lx.double(), y64, state)
(grad_y,) = torch.autograd.grad(out.sum(), y64)
assert torch.isfinite(grad_y).all()
tensors.update({'lpips.x': lx, 'lpips.y': ly, 'lpips.out': out.detach().float(), 'lpips.grad_y': grad_y.float()})
print('lpips', out.flatten().tolist())


write_safetensors(OUT_PATH, {name: t.float() for name, t in tensors.items()}, metadata)
print(f'wrote {len(tensors)} tensors, {OUT_PATH.stat().st_size} bytes to {OUT_PATH}')
