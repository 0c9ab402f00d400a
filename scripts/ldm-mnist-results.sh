#!/bin/sh
# Reruns the MNIST latent diffusion figures of docs/ldm-results.md from a trained run (default
# runs/mnist-ldm, as weights/README.md trains it): the classifier check of `ldm eval` for the five
# sampler settings of the table, and the sample grids.
# Usage: scripts/ldm-mnist-results.sh [run-dir] [out-dir]   (defaults: runs/mnist-ldm, docs/ldm-results)
set -eu
run=${1:-runs/mnist-ldm}
out=${2:-docs/ldm-results}
mkdir -p "$out"
npm run --silent ldm -- eval --model "$run" --data mnist --per-class 20 --guidance 3 \
  --samplers ddim:50,ddim:20,plms:50,dpm++2m:20,ddpm:1000 --json "$out/mnist-eval.json"
npm run --silent ldm -- sample --model "$run" --sampler ddim --steps 50 --guidance 3 --seed 0 -o "$out/mnist-ddim50.png"
npm run --silent ldm -- sample --model "$run" --sampler dpm++2m --steps 20 --guidance 3 --seed 0 -o "$out/mnist-dpmpp20.png"
npm run --silent ldm -- sample --model "$run" --sampler ddim --steps 50 --guidance 1 --seed 0 -o "$out/mnist-ddim50-unguided.png"
