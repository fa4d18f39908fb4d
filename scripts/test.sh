#!/usr/bin/env bash
# The whole test suite, from a clean clone: installs what is missing (Debian packages, npm
# packages, the Pulumi toolchain), then runs static checks, unit tests, the cloud stacks under
# mocks, the real Pulumi CLI, the CRM app's suite and the vnx stack end to end.
#   scripts/test.sh            everything (needs root: the vnx stack creates containers)
#   scripts/test.sh --quick    everything but the app suite, the end-to-end vnx test and the cloud rehearsal
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CRM_LOG_TAG="test"
cd "$CRM_ROOT"

quick=false
[[ ${1:-} == --quick ]] && quick=true

# Tools the tests call on this machine: nft, haproxy, nagios4 and sshd check rendered configs; lxc & co. run the scenario.
crm_apt "${CRM_VNX_PACKAGES[@]}" "${CRM_TEST_PACKAGES[@]}"
scripts/toolchain.sh
crm_pulumi_env

# Scenario addresses must never leave this machine: a route of the tests' own keeps them here for
# the whole run, whatever the stacks under test do with theirs (test/support/guard.ts).
ip route replace unreachable 10.1.0.0/16 metric 4001
trap 'ip route del unreachable 10.1.0.0/16 metric 4001 2>/dev/null || true' EXIT

passed=0 failed=0 skipped=0
# suite NAME CMD...: runs one suite, echoing its output, and adds mocha's counts to the totals.
suite() {
  local name=$1 log status=0
  shift
  log=$(mktemp)
  crm_log "── $name"
  "$@" 2>&1 | tee "$log" || status=$?
  # Mocha colours its summary when it believes it is on CI; count from the text without colour codes.
  sed -i 's/\x1b\[[0-9;]*m//g' "$log"
  local p f s
  p=$(grep -oE '^\s+[0-9]+ passing' "$log" | grep -oE '[0-9]+' | tail -1 || true)
  f=$(grep -oE '^\s+[0-9]+ failing' "$log" | grep -oE '[0-9]+' | tail -1 || true)
  s=$(grep -oE '^\s+[0-9]+ pending' "$log" | grep -oE '[0-9]+' | tail -1 || true)
  # Shell suites close with the plain "name: N passed, N failed" line instead.
  if [[ -z $p ]] && plain=$(grep -oE '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -1); then
    p=$(awk '{print $2}' <<<"$plain") f=$(awk '{print $4}' <<<"$plain")
  fi
  passed=$((passed + ${p:-0})) failed=$((failed + ${f:-0})) skipped=$((skipped + ${s:-0}))
  # A suite that broke before reporting counts as one failure.
  if ((status != 0)) && [[ -z $f || $f == 0 ]]; then failed=$((failed + 1)); fi
  rm -f "$log"
}

suite "static checks" bash -c 'tsc --noEmit -p . && eslint . && prettier --check . &&
  shellcheck -x -S warning scripts/*.sh scripts/vnx scripts/pulumi targets/cloud/scripts/*.sh roles/files/crm-once roles/files/crm-contract roles/files/crm-conntrack-failover \
    roles/files/crm-db-backup roles/files/crm-db-restore roles/files/check_crm_backup_age && (cd targets/vnx/scripts && shellcheck -x -S warning ./*.sh) &&
  shellcheck -x -S warning targets/docker/scripts/*.sh targets/docker/image/*.sh &&
  (cd test/rehearsal && shellcheck -x -S warning ./*.sh) &&
  (cd toolchain/language-nodejs && go vet ./... && test -z "$(gofmt -l .)")'
suite "unit, clouds (mocks) and the real Pulumi CLI" mocha 'test/unit/**/*.test.ts' 'test/clouds/**/*.test.ts' 'test/cli/**/*.test.ts' \
  test/docker/settings.test.ts test/docker/stack.test.ts test/docker/cli.test.ts test/rehearsal/translate.test.ts
if ! $quick; then
  suite "CRM application" app/scripts/test.sh
  # One scenario at a time on a machine (they share the 10.1.0.0/16 plan and the bridges' names):
  # a second run waits here for the first instead of failing on its containers.
  exec {scenario_lock}>/run/lock/crm-e2e.lock
  flock -n "$scenario_lock" || { crm_log "another run holds /run/lock/crm-e2e.lock: waiting for it"; flock "$scenario_lock"; }
  image=$(node --import tsx -e 'process.stdout.write(require("./targets/vnx/recipe.ts").imageName())')
  suite "vnx substrate under Docker's forwarding rules (br_netfilter, FORWARD DROP)" env CRM_IMAGE="$image" targets/vnx/scripts/selftest.sh
  suite "vnx substrate with a real Docker engine running" scripts/with-docker.sh env CRM_IMAGE="$image" targets/vnx/scripts/selftest.sh
  suite "vnx stack end to end, a real Docker engine running" scripts/with-docker.sh mocha --timeout 1800000 test/e2e/vnx.test.ts
  suite "docker stack replayed on a real Docker engine" scripts/with-docker.sh mocha --timeout 1800000 test/docker/replay.test.ts
  # Every other end-to-end file (upgrade, drift and repair; releases; a user's app; the optional parts; the redundant front).
  suite "vnx stack end to end: the other files" mocha --timeout 1800000 'test/e2e/**/*.test.ts' --ignore test/e2e/vnx.test.ts
  # The clouds' user data run by cloud-init in LXC behind their own rules (issue 9; test/rehearsal/).
  suite "cloud rehearsal: aws and openstack user data through cloud-init" mocha --timeout 900000 test/rehearsal/clouds.test.ts
fi

echo
echo "tests: $passed passed, $failed failed, $skipped skipped"
((failed == 0))
