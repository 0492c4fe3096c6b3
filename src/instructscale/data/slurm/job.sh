#!/bin/bash
# One unit of an instructscale study, written by `study run --executor slurm`.
#SBATCH --job-name=${job_name}
#SBATCH --output=${log}
#SBATCH --open-mode=append
#SBATCH --chdir=${workdir}
${sbatch_lines}
set -eo pipefail
echo "== ${unit}: SLURM job $$SLURM_JOB_ID on $$(hostname), attempt ${attempt}, $$(date -u +%FT%TZ)"
${setup_lines}
exec ${command}
