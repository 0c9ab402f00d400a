"""Prints the expected values hard-coded in optimizers.test.ts and clip-grad.test.ts.

Run: /usr/bin/python3 test/optim/torch_reference.py   (made with torch 1.13, CPU, float32)

The problem: two parameters p1 [2, 3] and p2 [3] on the quadratic
0.5 * sum(a * (p - c)^2); each step sets p.grad = a * (p - c) (float32) and calls
optimizer.step(). Printed: both parameters after each of three steps.
"""
import json

import torch

P1 = [[0.5, -1.0, 2.0], [1.5, -0.25, 0.0]]
C1 = [[1.0, 2.0, -1.0], [0.5, 0.0, 3.0]]
A1 = [[1.0, 2.0, 0.5], [3.0, 1.5, 0.1]]
P2 = [0.3, -0.7, 1.2]
C2 = [0.0, 0.5, -0.5]
A2 = [2.0, 1.0, 0.5]


def run(make):
    p1 = torch.tensor(P1, requires_grad=True)
    p2 = torch.tensor(P2, requires_grad=True)
    c1, a1, c2, a2 = (torch.tensor(x) for x in (C1, A1, C2, A2))
    opt = make(p1, p2)
    steps = []
    for _ in range(3):
        with torch.no_grad():
            p1.grad = a1 * (p1 - c1)
            p2.grad = a2 * (p2 - c2)
        opt.step()
        steps.append([p1.detach().flatten().tolist(), p2.detach().flatten().tolist()])
    return steps


CASES = {
    "sgd": lambda p1, p2: torch.optim.SGD([p1, p2], lr=0.1),
    "sgdMomentum": lambda p1, p2: torch.optim.SGD([p1, p2], lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01),
    "sgdNesterov": lambda p1, p2: torch.optim.SGD([p1, p2], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "adam": lambda p1, p2: torch.optim.Adam([p1, p2], lr=0.1),
    "adamL2Amsgrad": lambda p1, p2: torch.optim.Adam([p1, p2], lr=0.1, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True),
    "adamW": lambda p1, p2: torch.optim.AdamW([p1, p2], lr=0.1, weight_decay=0.1),
    "adamWGroups": lambda p1, p2: torch.optim.AdamW(
        [{"params": [p1]}, {"params": [p2], "lr": 0.05, "weight_decay": 0.0}], lr=0.1, weight_decay=0.5, amsgrad=True
    ),
}

for name, make in CASES.items():
    print(f"{name}: {json.dumps(run(make))},")

# clip_grad_norm_: the gradients at the start of the problem, several norm types.
for max_norm, norm_type in [(1.0, 2.0), (0.5, 1.0), (0.7, float("inf")), (1.0, 3.0), (100.0, 2.0)]:
    p1 = torch.tensor(P1, requires_grad=True)
    p2 = torch.tensor(P2, requires_grad=True)
    p1.grad = torch.tensor(A1) * (p1.detach() - torch.tensor(C1))
    p2.grad = torch.tensor(A2) * (p2.detach() - torch.tensor(C2))
    total = torch.nn.utils.clip_grad_norm_([p1, p2], max_norm, norm_type)
    print(json.dumps({"maxNorm": max_norm, "normType": str(norm_type), "total": total.item(),
                      "grads": [p1.grad.flatten().tolist(), p2.grad.flatten().tolist()]}) + ",")
