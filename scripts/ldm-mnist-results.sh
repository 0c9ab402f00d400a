#!/bin/sh
# Reruns the MNIST latent diffusion figures of docs/ldm-results.md from a trained run (default
# runs/mnist-ldm, as weights/README.md trains it): the classifier check of `ldm eval` (accuracy of
# DDIM 50 on 500 samples; the Frechet distance of five sampler settings on 100 samples each, as
# DDPM's 1000 steps are slow on a CPU), and the sample grids.
# Usage: scripts/ldm-mnist-results.sh [run-dir] [out-dir]   (defaults: runs/mnist-ldm, docs/ldm-results)
set -eu
run=${1:-runs/mnist-ldm}
out=${2:-docs/ldm-results}
mkdir -p "$out"
npm run --silent ldm -- eval --model "$run" --data mnist --guidance 3 --samplers ddim:50 --per-class 50 \
  --json "$out/mnist-eval-ddim50.json"
npm run --silent ldm -- eval --model "$run" --data mnist --guidance 3 --per-class 10 --batch-size 100 \
  --samplers ddim:50,ddim:20,plms:50,dpm++2m:20,ddpm:1000 --json "$out/mnist-eval-samplers.json"
npm run --silent ldm -- sample --model "$run" --sampler ddim --steps 50 --guidance 3 --seed 0 -o "$out/mnist-ddim50.png"
npm run --silent ldm -- sample --model "$run" --sampler ddim --steps 50 --guidance 1 --seed 0 -o "$out/mnist-ddim50-unguided.png"
