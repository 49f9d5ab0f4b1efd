#!/usr/bin/env bash
# The Kubernetes manifests in deploy/ against the Kubernetes API schemas (strict: unknown fields are
# errors), with kubernetes-validate from PyPI, which ships the schemas (no cluster, no network at check
# time). Also: the batch Job's shard count N in `--shard $(JOB_COMPLETION_INDEX)/N` equals `completions`.
# The venv lives outside the repo: ${LMSCORE_KUBE_VENV:-$HOME/.cache/lmscore-kubernetes-validate}.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION="1.37.0"   # kubernetes-validate; validates against Kubernetes 1.37 by default
VENV="${LMSCORE_KUBE_VENV:-$HOME/.cache/lmscore-kubernetes-validate}"
if ! "$VENV/bin/kubernetes-validate" --version 2>/dev/null | grep -qF "$VERSION"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "kubernetes-validate==$VERSION"
fi
"$VENV/bin/kubernetes-validate" --strict --quiet deploy/*.yaml

completions=$(grep -E '^\s+completions:' deploy/batch-job.yaml | head -1 | grep -oE '[0-9]+' | head -1)
shards=$(grep -oE '\$\(JOB_COMPLETION_INDEX\)/[0-9]+' deploy/batch-job.yaml | head -1 | cut -d/ -f2)
merged=$(grep -oE '/data/out/part-[0-9]+\.jsonl\.gz' deploy/batch-job.yaml | sort -u | wc -l)
[ "$completions" = "$shards" ] || { echo "check_deploy: completions $completions but --shard .../$shards" >&2; exit 1; }
[ "$merged" = "$shards" ] || { echo "check_deploy: the merge Job joins $merged parts, not $shards" >&2; exit 1; }
echo "check_deploy: $(ls deploy/*.yaml | wc -l) manifests valid; batch Job: $shards shards"
