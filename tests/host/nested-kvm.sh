#!/bin/bash
# timeout: 300
# host test: tools/nested-kvm keeps its contract. Runs on the host (not inside nested-kvm).
# /dev/kvm works inside; exit statuses 0, 1, 7 and 127 pass through; the working directory is shared
# writable; /tmp is private; the environment is carried over; a timeout kills everything and says
# so; bad usage is exit 2 with a one-line error.
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

for bad in "--bogus -- true" "--timeout -- true" "--memory abc -- true" "--cpus 0 -- true" "--" ""; do
  # shellcheck disable=SC2086
  err="$(tools/nested-kvm $bad 2>&1)"; rc=$?
  [[ $rc -eq 2 ]] || fail "'nested-kvm $bad' gave status $rc, not 2"
  [[ $(wc -l <<<"$err") -eq 1 ]] || fail "'nested-kvm $bad' did not give a one-line error: $err"
done
echo "[$name] passed"
