#!/bin/bash
# Issue 18 screen on digits (recipe digits: 30 epochs, batch 32, lr 1e-2), 3 seeds per arm, one thread.
cd /work/main
declare -A ARMS=(
  [classical]="--classical"
  [quantum]="--quantum"
  [elementwise]="--classical --elementwise"
  [qrkt-2n]="--quantum --ansatz qrkt-2n"
  [reupload]="--quantum --ansatz qrkt-reupload --weight-init normal"
  [normal-init]="--quantum --weight-init normal"
  [output-scale]="--quantum --output-scale"
  [basic]="--quantum --ansatz basic"
  [thesis-q]="--quantum --arch thesis"
  [thesis-c]="--classical --arch thesis"
)
for seed in 0 1 2; do
  for arm in classical quantum elementwise qrkt-2n reupload normal-init output-scale basic thesis-q thesis-c; do
    dir=/work/runs/screen/$arm-s$seed
    [ -f $dir/summary.json ] && continue
    extra=""; [ -d $dir ] && extra="--resume"
    OMP_NUM_THREADS=1 .venv/bin/qrkt --threads 1 train --dataset digits --seed $seed ${ARMS[$arm]} --no-progress --run-dir $dir $extra > $dir.log 2>&1
    echo "$(date +%T) $arm-s$seed rc=$?" >> /work/runs/screen/done.txt
  done
done
