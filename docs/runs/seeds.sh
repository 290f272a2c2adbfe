#!/bin/bash
# Issue 18, item 5: several seeds per arm, one thread per run, run records under $OUT/<arm>-s<seed>.
#   mnist: the thesis recipe (65 epochs, batch 65, peak lr 1e-3, 5,000 warmup steps).
#   imdb:  the thesis' IMDb shape at a budget this machine affords: $MAXLEN tokens, $EPOCHS epochs.
# Two lanes share one queue: run it twice (`bash docs/runs/seeds.sh mnist & bash docs/runs/seeds.sh mnist &`);
# each takes the next job nobody has claimed (JOBS="arm-sN ..." picks and orders them). After an
# interruption, `rm -r $OUT/.claim-*` and start the lanes again: a killed run resumes from its checkpoint.
cd "$(dirname "$0")/../.."
DATASET=${1:?usage: seeds.sh mnist|imdb}
DATA=${DATA:-../shared/data}
declare -A ARMS
case $DATASET in
  mnist)
    OUT=${OUT:-/work/runs/mnist}
    COMMON="--dataset mnist --data-root $DATA --recipe thesis"
    ARMS=([classical]="--classical" [quantum]="--quantum" [elementwise]="--classical --elementwise"
          [output-scale]="--quantum --output-scale" [qrkt-2n]="--quantum --ansatz qrkt-2n"
          [thesis-q]="--quantum --arch thesis" [thesis-c]="--classical --arch thesis")
    ALL="quantum-s0 classical-s0 elementwise-s0 quantum-s1 classical-s1 elementwise-s1
         quantum-s2 classical-s2 elementwise-s2 thesis-q-s0 thesis-c-s0 output-scale-s0 qrkt-2n-s0" ;;
  imdb)
    OUT=${OUT:-/work/runs/imdb}
    COMMON="--dataset imdb --data-root $DATA --max-length ${MAXLEN:-256} --epochs ${EPOCHS:-4}"
    # the quantum model (hidden 6, 2 heads, QMLP 4), the classical model at its shape, its element-wise twin
    ARMS=([quantum]="--quantum" [classical-6]="--classical --model imdb-quantum" [elementwise]="--classical --elementwise")
    ALL="quantum-s0 classical-6-s0 elementwise-s0 quantum-s1 classical-6-s1 elementwise-s1
         quantum-s2 classical-6-s2 elementwise-s2" ;;
  *) echo "unknown dataset $DATASET: mnist or imdb" >&2; exit 2 ;;
esac
mkdir -p $OUT
for job in ${JOBS:-$ALL}; do
  arm=${job%-s*}; seed=${job##*-s}; dir=$OUT/$job
  mkdir $OUT/.claim-$job 2>/dev/null || continue  # atomic: fails when another lane has the job
  [ -f $dir/summary.json ] && continue
  extra=""; [ -f $dir/config.json ] && extra="--resume"
  OMP_NUM_THREADS=1 .venv/bin/qrkt --threads 1 train $COMMON --seed $seed ${ARMS[$arm]} \
    --checkpoint-every 200 --no-progress --run-dir $dir $extra > $dir.log 2>&1
  echo "$(date +%T) $job rc=$?" >> $OUT/done.txt
done
