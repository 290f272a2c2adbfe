#!/bin/bash
# Made for the code before issue 35 (its records' config.json hold every value they trained with). Issue 35's
# arms (the new cpu preset and recipe, a CPU-hour budget, resumable) are docs/runs/gan_cpu_arms.py.
# Issue 19, item 5: the three arms with one data set, budget and recipe, each run in the background
# with checkpoints and generator snapshots, then FID (10k/10k) and the FID curve of every snapshot.
#   TransGAN, TransGAN + the rk4_enh last block (the ODE block without circuits), QRKT-GAN.
# Budget: EPOCHS passes over the 60k MNIST images (batch 32, n_critic 5: 375 generator iterations each);
# at the cpu preset, one quiet thread, an iteration takes 1.47 / 2.06 / 3.32 s (benchmarks/gan.py, docs/benchmarks.md).
#   bash docs/runs/gan_arms.sh train     # three runs in the background, one thread each
#   bash docs/runs/gan_arms.sh score     # after they finish: fid.json, fid_curve.csv/png
#   AT=2 CURVE_SAMPLES=0 bash docs/runs/gan_arms.sh score   # every arm's snapshot of epoch 2 only, no curves
#   bash docs/runs/gan_arms.sh record    # the small records and sample grids into docs/runs/$NAME/<arm>/ (no checkpoints)
# FID costs ~0.27 s an image on one core here (Inception at 299x299): SAMPLES (default 10000) generated
# and as many real images for the last generators, CURVE_SAMPLES (default 2048) for every snapshot.
# A stopped run resumes: `bash docs/runs/gan_arms.sh train` again (each run continues from last.pt);
# a finished one goes further with EPOCHS=N given (`qrkt gan train --resume --epochs N`, N epochs in all).
cd "$(dirname "$0")/../.."
OUT=${OUT:-/work/runs/gan}
DATA=${DATA:-../shared/data}
PRESET=${PRESET:-cpu}
FURTHER=${EPOCHS:+--epochs $EPOCHS}  # resuming: only an EPOCHS given takes the runs further
EPOCHS=${EPOCHS:-5}
DEVICE=${DEVICE:-cpu}  # EXTRA="--limit 640" adds options to new runs (a smoke test)
declare -A ARMS=([transgan]="--classical" [transgan-rk4_enh]="--classical --ode rk4_enh" [qrkt-gan]="--quantum")
ORDER="transgan transgan-rk4_enh qrkt-gan"  # the arms, in the order of every loop and table
mkdir -p $OUT
NAME=${NAME:-gan-arms-mnist}
case ${1:?usage: gan_arms.sh train|score|record} in
  train)
    for arm in $ORDER; do
      dir=$OUT/$arm
      if [ -f $dir/config.json ]; then args="--resume --run-dir $dir $FURTHER"
      else args="${ARMS[$arm]} --preset $PRESET --recipe thesis --dataset mnist --data-root $DATA --epochs $EPOCHS --device $DEVICE
                 --lr-g 2e-4 --lr-d 2e-4 --snapshot-every 1 --checkpoint-every 200 ${EXTRA:-} --run-dir $dir"; fi
      OMP_NUM_THREADS=1 nohup .venv/bin/qrkt --threads 1 gan train $args --no-progress > $dir.log 2>&1 &
    done ;;
  score)
    .venv/bin/qrkt gan fid $(printf "$OUT/%s " $ORDER) --samples ${SAMPLES:-10000} ${AT:+--epoch $AT} --no-progress
    [ "${CURVE_SAMPLES:-2048}" = 0 ] || for arm in $ORDER; do
      .venv/bin/qrkt gan fid $OUT/$arm --curve --samples ${CURVE_SAMPLES:-2048} --no-progress
    done ;;
  record)
    for arm in $ORDER; do
      mkdir -p docs/runs/$NAME/$arm
      for f in config.json metrics.csv summary.json fid.json fid_curve.csv fid_curve.png curves.png; do
        [ -f $OUT/$arm/$f ] && cp $OUT/$arm/$f docs/runs/$NAME/$arm/
      done
      cp $OUT/$arm/samples/epoch_*.png docs/runs/$NAME/$arm/  # the EMA generator's grid after each epoch
    done
    .venv/bin/python docs/runs/gan_table.py docs/runs/$NAME ;;
esac
