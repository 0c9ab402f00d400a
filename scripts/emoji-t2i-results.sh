#!/bin/sh
# Reruns the text-to-image figures of docs/text-to-image-results.md from a trained run (default
# runs/emoji-t2i, as weights/README.md trains it): grids for prompts that combine seen words in new
# ways and for held-out emoji names, with and without a negative prompt, and the held-out measure of
# `ldm eval` (category accuracy and Frechet distance of samples from every held-out emoji's name,
# beside the held-out images themselves and the empty-prompt control).
# Usage: scripts/emoji-t2i-results.sh [run-dir] [out-dir]   (defaults: runs/emoji-t2i, docs/text-to-image-results)
# GUIDANCE (default 3) and THREADS (default: all cores) tune the runs.
set -eu
run=${1:-runs/emoji-t2i}
out=${2:-docs/text-to-image-results}
guidance=${GUIDANCE:-3}
threads=${THREADS:+--threads $THREADS}
mkdir -p "$out"
ldm() { npm run --silent ldm -- "$@" $threads; }
common="--model $run --sampler ddim --steps 50 --guidance $guidance --seed 0 --n 8"
# New combinations of words the captions hold (no emoji has these names).
ldm sample $common -o "$out/compositions.png" \
  --prompts "blue heart;purple heart;cat face with glasses;dog face with sunglasses;red car;green apple;yellow star;smiling cat with heart eyes"
# Names of held-out emoji (every 10th emoji, never trained on), by data order of the test split.
ldm sample $common -o "$out/held-out-names.png" \
  --prompts "$(node -e "
    import('./dist/src/data/emoji.js').then(({ emojiEntries }) => {
      const test = emojiEntries('test').filter((e) => !/skin tone/.test(e.captions[0]));
      const pick = Array.from({ length: 8 }, (_, k) => test[Math.floor((k * test.length) / 8)].captions[0]);
      console.log(pick.join(';'));
    });")"
ldm sample $common -o "$out/negative-prompt.png" --prompts "heart;face;animal" --negative-prompt "red"
ldm eval --model "$run" --data emoji --guidance "$guidance" --samplers ddim:50 --batch-size 64 --json "$out/eval.json"
