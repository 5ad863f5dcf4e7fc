#!/usr/bin/env bash
# Data-parallel training over MPI (parallel.data = N): N ranks x batch B/N equal one process x batch
# B — parameters (max |difference| / max |parameter| <= 1e-5) and the loss of every step (relative
# 1e-6) — for lenet and an MLP without dropout, mini-batch (with an uneven last batch) and full-batch
# GD, N = 2 and 3 (--oversubscribe); a diverging run stops cleanly on every rank; a run asking
# for more ranks than it has is refused. Usage: data_parallel_test.sh path/to/sgdbench
set -u
bin="$1"; here="$(cd "$(dirname "$0")" && pwd)"; tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fails=0
fail() { echo "FAIL: $*"; fails=$((fails+1)); }
cat > "$tmp/mlp.json" <<'J'
{"name": "mlp_nodrop", "input": [1, 28, 28], "init": "glorot_uniform",
 "layers": [{"flatten": {}}, {"dense": {"out": 128}}, {"relu": {}}, {"dense": {"out": "classes"}}]}
J
# 650 samples in batches of 32: 20 full batches and a last one of 10 (3 ranks: 3 + 3 + 4).
common=(--data synthetic --set data.synthetic.train=650 --set data.synthetic.test=200
        --set log_every_steps=1 --quiet)
compare() {  # compare NAME DIR_1 DIR_N
  /usr/bin/python3 - "$@" <<'PY' || fail "$1"
import glob, json, sys
import numpy as np
name, a, b = sys.argv[1:]
def load(d):
    r = json.load(open(glob.glob(d + "/out/*/runs/*.json")[0]))
    return r, np.fromfile(f"{d}/params/{r['summary']['final_state_hash']}.f32", dtype=np.float32)
(ra, pa), (rb, pb) = load(a), load(b)
assert rb["config"]["parallel"]["data"] > 1 and rb["provenance"]["mpi"]["ranks"] == rb["config"]["parallel"]["data"]
assert rb["provenance"]["data_parallel"]["ranks"] == rb["config"]["parallel"]["data"]
assert "parallel" not in ra["config"] and "data_parallel" not in ra["provenance"]
assert pa.shape == pb.shape and np.all(np.isfinite(pb))
dp = float(np.abs(pa - pb).max() / np.abs(pa).max())
ha, hb = ra["history"], rb["history"]
assert [h["step"] for h in ha] == [h["step"] for h in hb] and len(ha) > 10, "different steps logged"
def rel(k):
    x = np.array([h[k] for h in ha if h[k] is not None]); y = np.array([h[k] for h in hb if h[k] is not None])
    return float(np.max(np.abs(x - y) / np.abs(x)))
print(f"{name}: steps {hb[-1]['step']}, params max|diff|/max|p| {dp:.2e}, "
      f"train loss per step {rel('train_loss'):.2e}, test loss {rel('test_loss'):.2e}")
assert dp <= 1e-5 and rel("train_loss") <= 1e-6 and rel("test_loss") <= 1e-6, "beyond tolerance"
PY
}
for model in lenet "{\"file\": \"$tmp/mlp.json\"}"; do
  for batch in 32 full; do
    tag="$( [ "$model" = lenet ] && echo lenet || echo mlp)-$batch"
    epochs=1; [ "$batch" = full ] && epochs=15  # GD: one step per epoch
    mkdir -p "$tmp/$tag-1/params"
    SGDBENCH_SAVE_PARAMS="$tmp/$tag-1/params" "$bin" --threads 1 train --set "model=$model" --batch-size "$batch" \
      --lr 0.05 --epochs "$epochs" "${common[@]}" --out "$tmp/$tag-1/out" > /dev/null 2>&1 || fail "$tag: one process"
    for n in 2 3; do
      d="$tmp/$tag-$n"; mkdir -p "$d/params"
      extra=""; [ "$n" -gt 2 ] && extra="--oversubscribe"
      SGDBENCH_SAVE_PARAMS="$d/params" timeout 300 mpirun -n "$n" $extra --bind-to none -x SGDBENCH_SAVE_PARAMS \
        "$bin" train --set "model=$model" --batch-size "$batch" --lr 0.05 --epochs "$epochs" "${common[@]}" --out "$d/out" \
        --data-parallel > "$d/log" 2>&1 || { fail "$tag: mpirun -n $n exit $?"; cat "$d/log"; continue; }
      grep -q "$n MPI ranks train each run together" "$d/log" || fail "$tag -n $n: plan line"
      [ "$(ls "$d/out"/*/runs/*.json | wc -l)" -eq 1 ] || fail "$tag -n $n: rank 0 alone writes the one result"
      compare "$tag x $n ranks" "$tmp/$tag-1" "$d"
    done
  done
done

# A diverging run (lr 1e6) stops on every rank at the same step: a 'diverged' result, exit 0.
timeout 120 mpirun -n 2 --bind-to none "$bin" train --model lenet --batch-size 32 --lr 1e6 --epochs 1 "${common[@]}" \
  --out "$tmp/div" --data-parallel > "$tmp/div.log" 2>&1 || fail "diverging run: exit $? (or it hung)"
grep -q '"status": "diverged"' "$tmp"/div/*/runs/*.json 2>/dev/null || fail "diverging run: no diverged result"

# parallel.data without the ranks: a usage error naming the run and the command to use.
echo '{"experiment": "dp", "base": {"model": "lenet", "data": "synthetic", "parallel": {"data": 2}}}' > "$tmp/dp.json"
msg=$("$bin" run "$tmp/dp.json" --out "$tmp/x" 2>&1); rc=$?
[ "$rc" -eq 2 ] && grep -q "asks for parallel.data = 2 but this is one process: start it with mpirun -n 2" <<<"$msg" \
  || fail "parallel.data = 2 in one process: exit $rc: $msg"

[ "$fails" -eq 0 ] && echo "data_parallel_test: all passed" || exit 1
