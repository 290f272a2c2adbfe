#!/bin/bash
# Issue 35 pilots, as run on 2026-12-07 21:42 UTC (code: a frozen copy of the package in /work/gan-runs/code-a;
# drop PYTHONPATH to use the checkout). Stopped after 1 epoch and ~160 more steps each (SIGTERM, resumable).
# pilot NAME [extra qrkt gan train options]: TransGAN, cpu preset, 9,600 MNIST images (300 steps an epoch), one thread
name=$1; shift
cd /work/gan-runs/pilots
dir=/work/gan-runs/pilots/$name
if [ -f $dir/config.json ]; then args="--resume --run-dir $dir"; else
  args="--classical --preset cpu --dataset mnist --data-root /work/shared/data --limit 9600 --epochs 40 --snapshot-every 1 --checkpoint-every 100 --run-dir $dir $*"; fi
OMP_NUM_THREADS=1 PYTHONPATH=/work/gan-runs/code-a nohup /work/main/.venv/bin/python -m qrkt_qiskit --threads 1 gan train $args --no-progress >> $dir.log 2>&1 &
echo $! > $dir.pid
