#!/bin/sh
# Reruns the stage-1 autoencoder table of docs/autoencoder-results.md: five presets on MNIST and emoji,
# plus emoji KL f=4 runs without its perceptual term (SSIM) and at weights 1.0 and 0.25, for the comparison.
# Usage: scripts/stage1-table.sh [steps] [runs-dir]   (defaults: 1200 steps, runs/stage1)
# Each run prints its held-out PSNR/SSIM at the end; runs/<name>/log.jsonl holds the figures.
set -eu
steps=${1:-1200}
root=${2:-runs/stage1}
mkdir -p "$root"

train() { # name config data
  if [ -e "$root/$1/last" ] && [ ! -e "$root/$1/checkpoints/step-$(printf %06d "$steps")" ]; then
    npm run --silent ldm -- train-autoencoder --resume "$root/$1" --steps "$steps" --log-every 200
  elif [ ! -e "$root/$1/last" ]; then
    npm run --silent ldm -- train-autoencoder --config "$2" --data "$3" --out "$root/$1" --steps "$steps" \
      --checkpoint-every 1000 --sample-every 1000 --log-every 200
  fi
}

train mnist-kl-f4 cpu/kl-f4-32px-1ch mnist
train mnist-kl-f8 cpu/kl-f8-32px-1ch mnist
train emoji-kl-f4 cpu/kl-f4-32px-3ch emoji
sed "s/perceptual_weight: 0.1/perceptual_weight: 0.0/" configs/autoencoder/cpu/kl-f4-32px-3ch.yaml \
  > "$root/kl-f4-32px-3ch-no-perceptual.yaml"
train emoji-kl-f4-no-perceptual "$root/kl-f4-32px-3ch-no-perceptual.yaml" emoji
train emoji-kl-f8 cpu/kl-f8-32px-3ch emoji
train emoji-vq-f4 cpu/vq-f4-32px-3ch emoji
# The perceptual weight sweep on emoji KL f=4 (the preset's 0.1 is the emoji-kl-f4 run above).
for weight in 1.0 0.25; do
  sed "s/perceptual_weight: 0.1/perceptual_weight: $weight/" configs/autoencoder/cpu/kl-f4-32px-3ch.yaml \
    > "$root/kl-f4-32px-3ch-perceptual-$weight.yaml"
  train "emoji-kl-f4-perceptual-$weight" "$root/kl-f4-32px-3ch-perceptual-$weight.yaml" emoji
done
