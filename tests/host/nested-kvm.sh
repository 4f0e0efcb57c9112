#!/bin/bash
# timeout: 300
# host test: tools/nested-kvm keeps its contract. Runs on the host (not inside nested-kvm).
# /dev/kvm works inside; exit statuses 0, 1, 7 and 127 pass through; the working directory is shared
# writable; /tmp is private; the environment is carried over; a timeout kills everything and says
# so; a nested host whose kernel panics gives 125 naming the console line, kept by --console; bad
# usage is exit 2 with a one-line error.
set -uo pipefail
cd "$(dirname "$0")/../.."
name=nested-kvm
fail() { echo "[$name] FAIL: $*"; exit 1; }
scratch=".cache/nested-kvm-test.$$"
mkdir -p "$scratch"
trap 'rm -rf "$scratch"' EXIT
marker="/tmp/nested-kvm-test-private.$$"
touch "$marker"

out="$(tools/nested-kvm -- sh -c 'test -c /dev/kvm && echo yes')"; rc=$?
[[ $rc -eq 0 && "$out" == yes ]] || fail "/dev/kvm check printed '$out', status $rc"

export NESTED_TEST_VALUE="it's a \"quoted\" value with \$dollar"
out="$(tools/nested-kvm -- bash -c '
  echo "cwd=$(pwd -P)"
  echo "env=$NESTED_TEST_VALUE"
  test -e '"$marker"' && echo "tmp=shared" || echo "tmp=private"
  touch /tmp/x && echo "tmpwrite=ok"
  echo written > '"$scratch"'/from-inside
  touch /usr/nested-kvm-write-test 2>/dev/null && echo "root=writable" || echo "root=readonly"
  exit 7')"; rc=$?
[[ $rc -eq 7 ]] || fail "exit 7 came back as $rc"
grep -qx "cwd=$(pwd -P)" <<<"$out" || fail "not run in the same working directory: $out"
grep -qxF "env=$NESTED_TEST_VALUE" <<<"$out" || fail "environment not carried over: $out"
grep -qx "tmp=private" <<<"$out" || fail "/tmp is not private: $out"
grep -qx "tmpwrite=ok" <<<"$out" || fail "/tmp is not writable: $out"
[[ "$(cat "$scratch/from-inside" 2>/dev/null)" == written ]] || fail "a write in the working directory is not visible on the host"
rm -f "$marker"

tools/nested-kvm -- sh -c 'exit 1'; rc=$?
[[ $rc -eq 1 ]] || fail "exit 1 came back as $rc"
tools/nested-kvm -- no-such-command-for-nested-kvm 2>/dev/null; rc=$?
[[ $rc -eq 127 ]] || fail "a missing command gave $rc, not 127"

start=$SECONDS
err="$(tools/nested-kvm --timeout 25 -- sh -c 'echo about-to-sleep; sleep 600' 2>&1 >/dev/null)"; rc=$?
[[ $rc -eq 124 ]] || fail "a timeout gave status $rc, not 124"
(( SECONDS - start < 60 )) || fail "the timeout did not stop the command in time"
grep -q "timed out after 25 s" <<<"$err" || fail "the timeout was not reported: $err"
grep -q "about-to-sleep" <<<"$err" || fail "the last output was not shown on timeout: $err"
sleep 1
pgrep -f "qemu-system-x86_64 .*mount_tag=ctl" >/dev/null && fail "a qemu process was left behind after the timeout"

# A nested host whose kernel fails (a real panic, through sysrq) gives 125, names the console
# line that shows it, and leaves its console in --console FILE; a command that fails in a healthy
# nested host keeps its own status and leaves an empty console.
# (Only in a nested host: natively, the panic would be this machine's.)
if [[ "$(tools/nested-kvm -- sh -c 'echo "${TANDEM_IN_NESTED_KVM:-0}"' 2>/dev/null)" == 1 ]]; then
  err="$(tools/nested-kvm --console "$scratch/panic.console" -- sh -c 'echo 1 > /proc/sys/kernel/sysrq; echo c > /proc/sysrq-trigger; sleep 60' 2>&1 >/dev/null)"; rc=$?
  [[ $rc -eq 125 ]] || fail "a panicking nested host gave status $rc, not 125"
  grep -q "^nested-kvm: L1 kernel: .*Kernel panic - not syncing: sysrq triggered crash" <<<"$err" || fail "the panic was not named: $err"
  grep -q "Kernel panic" "$scratch/panic.console" || fail "--console did not keep the nested host's console"
  tools/nested-kvm --console "$scratch/fail.console" -- sh -c 'exit 3' 2>/dev/null; rc=$?
  [[ $rc -eq 3 && -f "$scratch/fail.console" && ! -s "$scratch/fail.console" ]] \
    || fail "a failing command in a healthy nested host: status $rc (want 3), console '$(cat "$scratch/fail.console" 2>/dev/null)' (want empty)"
else
  echo "[$name] SKIP: this machine's own KVM runs the command: no nested host to make panic"
fi

for bad in "--bogus -- true" "--timeout -- true" "--memory abc -- true" "--cpus 0 -- true" "--console" "--" ""; do
  # shellcheck disable=SC2086
  err="$(tools/nested-kvm $bad 2>&1)"; rc=$?
  [[ $rc -eq 2 ]] || fail "'nested-kvm $bad' gave status $rc, not 2"
  [[ $(wc -l <<<"$err") -eq 1 ]] || fail "'nested-kvm $bad' did not give a one-line error: $err"
done
echo "[$name] passed"
