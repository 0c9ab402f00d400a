#!/usr/bin/env bash
# Reruns the compute comparison of docs/compute-claim.md: pixel-space diffusion (f = 1) against latent
# diffusion at f = 4 and f = 8, on MNIST and on emoji (class-conditional on the 10 emoji categories),
# every U-Net trained for the same wall-clock budget (configs/ldm/cpu/compute/<row>.yaml).
# For each row: `ldm train --time-limit` into $RUNS/<row>, `ldm eval` (DDIM 50, guidance 3) into
# $OUT/<row>-eval.json, a sample grid into $OUT/<row>.png; then the table (scripts/compute-table-summary.mjs)
# is printed and written to $OUT/table.md.
# A row whose run has a checkpoint is not trained again (remove its directory to retrain); its eval and
# grid are redone when older than the run. First stages missing at their paths are trained first.
# Usage: scripts/compute-table.sh   (settings through the environment:)
#   BUDGET_MINUTES  training budget of every U-Net, in minutes (default 5)
#   PER_CLASS       eval samples per class (default 10)
#   GRID_PER_CLASS  grid images per class (default 8)
#   THREADS         compute threads of every ldm command (default: all cores)
#   ROWS            the rows to run (default: mnist-f1 mnist-f4 mnist-f8 emoji-f1 emoji-f4 emoji-f8)
#   RUNS, OUT       run and output directories (default runs/compute, docs/compute-claim)
#   MNIST_KL_F4, MNIST_KL_F8, EMOJI_KL_F4, EMOJI_KL_F8   first-stage runs (defaults under runs/stage1)
#   STAGE1_STEPS    training steps of a first stage that is missing (default 1200, as scripts/stage1-table.sh)
set -euo pipefail
budget=${BUDGET_MINUTES:-5}
per_class=${PER_CLASS:-10}
grid_per_class=${GRID_PER_CLASS:-8}
rows=${ROWS:-mnist-f1 mnist-f4 mnist-f8 emoji-f1 emoji-f4 emoji-f8}
runs=${RUNS:-runs/compute}
out=${OUT:-docs/compute-claim}
stage1_steps=${STAGE1_STEPS:-1200}
mnist_kl_f4=${MNIST_KL_F4:-runs/stage1/mnist-kl-f4}
mnist_kl_f8=${MNIST_KL_F8:-runs/stage1/mnist-kl-f8}
emoji_kl_f4=${EMOJI_KL_F4:-runs/stage1/emoji-kl-f4}
emoji_kl_f8=${EMOJI_KL_F8:-runs/stage1/emoji-kl-f8}
threads=()
if [ -n "${THREADS:-}" ]; then threads=(--threads "$THREADS"); fi
mkdir -p "$runs" "$out"

ldm() { npm run --silent ldm -- "$@" "${threads[@]}"; }

# The first stage of a row (empty for pixel space); trains it when its run is missing.
first_stage() { # row
  local path preset data
  case $1 in
    *-f1) return ;;
    mnist-f4) path=$mnist_kl_f4 preset=cpu/kl-f4-32px-1ch data=mnist ;;
    mnist-f8) path=$mnist_kl_f8 preset=cpu/kl-f8-32px-1ch data=mnist ;;
    emoji-f4) path=$emoji_kl_f4 preset=cpu/kl-f4-32px-3ch data=emoji ;;
    emoji-f8) path=$emoji_kl_f8 preset=cpu/kl-f8-32px-3ch data=emoji ;;
    *) echo "unknown row $1" >&2 && exit 2 ;;
  esac
  if [ ! -e "$path/last" ]; then
    echo "== first stage $path ($preset, $stage1_steps steps)" >&2
    ldm train-autoencoder --config "$preset" --data "$data" --out "$path" --steps "$stage1_steps" \
      --checkpoint-every 1000 --sample-every 1000 --log-every 200 >&2
  fi
  echo "$path"
}

for row in $rows; do
  data=${row%%-*}
  run=$runs/$row
  autoencoder=$(first_stage "$row")
  if [ ! -e "$run/last" ]; then
    echo "== train $row for $budget min"
    # --steps only bounds the run from above: the time limit ends it. No checkpoints in between. The
    # run's own preview at the end is a quick look (DDIM 10): the grid of the docs is made below.
    ldm train --config "configs/ldm/cpu/compute/$row.yaml" ${autoencoder:+--autoencoder "$autoencoder"} \
      --data "$data" --out "$run" --time-limit "$budget" --steps 100000000 --checkpoint-every 0 \
      --sample-every 0 --sample-steps 10 --log-every 50
  fi
  if [ ! "$out/$row-eval.json" -nt "$run/last" ]; then
    echo "== eval $row"
    # Emoji's first 2,000 training images (eval's default reference) hold only two of its categories:
    # its reference is the whole training split (3,415 images).
    reference=2000
    if [ "$data" = emoji ]; then reference=3415; fi
    ldm eval --model "$run" --data "$data" --samplers ddim:50 --per-class "$per_class" --guidance 3 \
      --reference "$reference" --json "$out/$row-eval.json"
  fi
  if [ ! "$out/$row.png" -nt "$run/last" ]; then
    echo "== grid $row"
    # Both datasets have 10 classes: one grid row per class.
    ldm sample --model "$run" --n $((10 * grid_per_class)) --sampler ddim --steps 50 --guidance 3 --seed 0 \
      -o "$out/$row.png"
  fi
done

node scripts/compute-table-summary.mjs "$runs" "$out" | tee "$out/table.md"
