#!/usr/bin/env bash
# Captions a WebDataset as a Slurm job array: task i runs shard i of SHARDS (clipcapctl reads
# $SLURM_ARRAY_TASK_ID; number the array from 0) and writes OUT/{i:05d}.jsonl, then
# {i:05d}_stats.json. docs/SCALE.md explains the sizing.
#   sbatch deploy/slurm/caption-array.sh
#   sbatch --array=17,42 deploy/slurm/caption-array.sh     # rerun two failed shards
# A rerun skips shards whose stats file exists and resumes killed ones from their checkpoint.
#SBATCH --job-name=clipcap-captions
#SBATCH --array=0-99%20
#SBATCH --cpus-per-task=2
#SBATCH --mem=2G
#SBATCH --time=04:00:00
#SBATCH --requeue
#SBATCH --output=logs/caption-%A_%a.log
set -uo pipefail

SHARDS=${SHARDS:-100}                       # must match --array (0..SHARDS-1)
DEFAULT_INPUTS='/data/shards/{00000..00099}.tar'   # a brace pattern clipcapctl expands
INPUTS=${INPUTS:-$DEFAULT_INPUTS}
MODEL=${MODEL:-/models/clipcap.ccm}
OUT=${OUT:-/data/captions}
CLIPCAPCTL=${CLIPCAPCTL:-clipcapctl}

"$CLIPCAPCTL" caption "$INPUTS" --model "$MODEL" --out "$OUT" --shards "$SHARDS" \
    --threads "${SLURM_CPUS_PER_TASK:-2}" --quiet
status=$?
case $status in
    0) ;;                                                        # every image captioned
    3) echo "shard $SLURM_ARRAY_TASK_ID: done, some images failed (see $OUT)" >&2 ;;
    2|64) echo "shard $SLURM_ARRAY_TASK_ID: permanent failure (model, inputs or arguments)" >&2 ;;
    *) echo "shard $SLURM_ARRAY_TASK_ID: failed ($status); rerun it to resume from its checkpoint" >&2 ;;
esac
exit $status
