#!/bin/bash
# Issue 18, item 5: MNIST with the thesis recipe (65 epochs, batch 65, peak lr 1e-3, 5,000 warmup
# steps), several seeds per arm, one thread per run. Two lanes share one queue: run this script
# twice (`bash docs/runs/mnist_seeds.sh & bash docs/runs/mnist_seeds.sh &`); each takes the next
# job nobody has claimed. After an interruption, `rm -r $OUT/.claim-*` and start the lanes again:
# a killed run resumes from its checkpoint.
cd "$(dirname "$0")/../.."
OUT=${OUT:-/work/runs/mnist}
DATA=${DATA:-../shared/data}
mkdir -p $OUT
declare -A ARMS=(
  [classical]="--classical"
  [quantum]="--quantum"
  [elementwise]="--classical --elementwise"
  [output-scale]="--quantum --output-scale"
  [qrkt-2n]="--quantum --ansatz qrkt-2n"
  [thesis-q]="--quantum --arch thesis"
  [thesis-c]="--classical --arch thesis"
)
JOBS=${JOBS:-"quantum-s0 classical-s0 elementwise-s0 quantum-s1 classical-s1 elementwise-s1
  quantum-s2 classical-s2 elementwise-s2 thesis-q-s0 thesis-c-s0 output-scale-s0 qrkt-2n-s0"}
for job in $JOBS; do
  arm=${job%-s*}; seed=${job##*-s}; dir=$OUT/$job
  # claim the job atomically: mkdir of the claim folder fails when another lane has it
  mkdir $OUT/.claim-$job 2>/dev/null || continue
  [ -f $dir/summary.json ] && continue
  extra=""; [ -f $dir/config.json ] && extra="--resume"
  OMP_NUM_THREADS=1 .venv/bin/qrkt --threads 1 train --dataset mnist --data-root $DATA --recipe thesis \
    --seed $seed ${ARMS[$arm]} --checkpoint-every 200 --no-progress --run-dir $dir $extra > $dir.log 2>&1
  echo "$(date +%T) $job rc=$?" >> $OUT/done.txt
done
