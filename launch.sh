#!/usr/bin/env bash
# dnapt: one entry point for set-up, the demo, the tests, training launches and the testbed.
#   bash launch.sh setup            create/refresh the virtualenv (idempotent)
#   bash launch.sh demo             the findings recipe: shard, train, audit, score, print the Findings (does set-up itself)
#   bash launch.sh test [ARGS]      run the test suite (pytest ARGS; does set-up itself)
#   bash launch.sh train [--hostfile H | --nnodes N --node-rank R --master-addr A] -- TRAINER ARGS
#   bash launch.sh testbed RECIPE   run a vocabulary x masking recipe end to end
#   bash launch.sh shell CMD...     run CMD inside the project's environment
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

# Real data: point the registry's mirror at ../shared/data when it exists (and nothing is set).
if [[ -z "${DNAPT_DATA_MIRROR:-}" && -d "$ROOT/../shared/data" ]]; then
  export DNAPT_DATA_MIRROR="$(cd "$ROOT/../shared/data" && pwd)"
fi
export DS_ACCELERATOR="${DS_ACCELERATOR:-$(command -v nvidia-smi >/dev/null 2>&1 && echo cuda || echo cpu)}"
export TOKENIZERS_PARALLELISM=false
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

# The venv lives outside the clone, keyed by a hash of the dependency list and the installed
# commands, so fresh clones (CI clones afresh every run) reuse it while those are unchanged.
# dnapt itself is installed editable; PYTHONPATH above makes this checkout's code win even when
# the shared venv's editable install points at another clone.
deps_hash() {
  python3 - "$ROOT/pyproject.toml" <<'PY'
import hashlib, sys, tomllib
t = tomllib.load(open(sys.argv[1], "rb"))
p = t["project"]
blob = "\n".join(sorted(p["dependencies"]) + sorted(p["optional-dependencies"]["dev"])
                 + sorted(t["tool"]["dnapt"]["no-deps"])
                 + sorted(f"{k}={v}" for k, v in p.get("scripts", {}).items()))
print(hashlib.sha256(blob.encode()).hexdigest()[:12])
PY
}
VENV="${DNAPT_VENV:-$HOME/.cache/dnapt/venv-$(deps_hash)}"

# One list from pyproject's [tool.dnapt] table, one item a line.
toml_list() {
  python3 - "$ROOT/pyproject.toml" "$1" <<'PY'
import sys, tomllib
print("\n".join(tomllib.load(open(sys.argv[1], "rb"))["tool"]["dnapt"][sys.argv[2]]))
PY
}

# `pip check`, honest about what dnapt overrides: the known lines (pyproject [tool.dnapt]
# overrides) are printed as overridden; any other line fails the set-up.
pip_check() {
  "$VENV/bin/pip" check >"$VENV.check" 2>&1 && return 0
  python3 - "$ROOT/pyproject.toml" "$VENV.check" <<'PY'
import sys, tomllib
known = tomllib.load(open(sys.argv[1], "rb"))["tool"]["dnapt"]["overrides"]
bad = 0
for line in filter(None, map(str.strip, open(sys.argv[2]))):
    ok = any(line.startswith(k) for k in known)
    print(f"[dnapt] pip check{', overridden on purpose' if ok else ''}: {line}", file=sys.stderr)
    bad += not ok
sys.exit(1 if bad else 0)
PY
}

setup() {
  [[ -f "$VENV/.dnapt-ok" ]] && return 0
  mkdir -p "$(dirname "$VENV")"
  # Serialize concurrent set-ups (parallel test shells, CI beside a demo) on one lock file.
  exec 9>"$VENV.lock"
  flock 9
  if [[ -f "$VENV/.dnapt-ok" ]]; then
    exec 9>&-
    return 0
  fi
  echo "[dnapt] creating virtualenv $VENV (first run: a few minutes)" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip setuptools wheel
  # torch and torchvision first, as a pinned pair, so no other requirement can pull a different torch.
  "$VENV/bin/pip" install -q "torch==2.14.1" "torchvision==0.29.1"
  "$VENV/bin/pip" install -q -e "$ROOT[dev]"
  # Packages whose metadata pins are stale go in with --no-deps (pyproject [tool.dnapt]).
  "$VENV/bin/pip" install -q --no-deps $(toml_list no-deps)
  pip_check
  touch "$VENV/.dnapt-ok"
  exec 9>&-
}

activate() {
  setup
  # shellcheck disable=SC1091
  source "$VENV/bin/activate"
}

# The demo is the findings recipe: shard E. coli + yeast, train kmer6-overlap and char under
# copy-prone and leak-free masking (2 seeds), audit and score, print the table, and end with the
# Findings section (the masking claims with measured numbers and verdicts). A second run skips
# every finished step. recipes/demo.toml is the wider 4-vocabulary tour.
demo() {
  local out="${DNAPT_DEMO_OUT:-$ROOT/out/demo}"
  local rc=0
  python -m testbed "$ROOT/recipes/findings.toml" --out "$out" "$@" || rc=$?
  if [[ -f "$out/testbed.json" ]]; then
    echo
    python -m testbed.findings "$out"
  fi
  return "$rc"
}

cmd="${1:-help}"
shift || true
case "$cmd" in
  setup) setup; echo "[dnapt] environment ready: $VENV" ;;
  shell) activate; exec "$@" ;;
  test) activate; exec python -m pytest "$@" ;;
  demo) activate; demo "$@" ;;
  train) activate; exec python -m trainer.launch "$@" ;;
  testbed) activate; exec python -m testbed "$@" ;;
  help|-h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) echo "launch.sh: unknown command '$cmd' (try: bash launch.sh help)" >&2; exit 2 ;;
esac
