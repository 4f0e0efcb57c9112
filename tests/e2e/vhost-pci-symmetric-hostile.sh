#!/bin/bash
# timeout: 600
# nested-memory: 3072
# e2e: a symmetric (2.1) vhost-pci-net guest against a hostile peer driver (docs/vhost-pci-net.md
# §9.4, issue 10's bad input):
#   1. VM1 (listening) and VM2 (dialling) link and ping. Then VM2's guest unbinds our driver and
#      loads guest-images/section-prober's section_scribbler.ko, which rewrites VM2's own output
#      section for 15 s (bad lengths, bad virtio-net headers, header sizes changing under the
#      reader, a bogus rx_cons, ready flapping, random bytes, finally a runaway tx_prod) and rings
#      both doorbells after every round, while VM1 keeps pinging (transmitting into its own section
#      and reading VM2's rx_cons).
#   2. VM1's driver drops and counts (ethtool counters), reads nothing outside VM2's section (it
#      cannot: nothing else of VM2 is mapped), no oops; VM1's tandem keeps running.
#   3. VM2 powers off; a clean VM2 links, announces itself, and VM1 pings it.
. "$(dirname "$0")/lib.sh"
require_kvm
require_tandem
guest_image

S="$E2E_TMP/vpci-sym.sock"
v1="$E2E_TMP/vm1.log" v2="$E2E_TMP/vm2-hostile.log" v3="$E2E_TMP/vm2-clean.log"
boot_tandem_ready "$v1" 300 --memory 768M --vhost-pci "socket=$S,mode=symmetric" \
  --cmdline "console=ttyS0 panic=-1 tandem.net=vpn0:10.2.0.1/24 tandem.peer=10.2.0.2 tandem.script=vhost-pci-sym-hostile" \
  || fail "VM1 did not boot"
pid1=$TANDEM_PID
boot_tandem_ready "$v2" 300 --memory 512M --vhost-pci "socket=$S,mode=symmetric,listen=off" \
  --cmdline "console=ttyS0 panic=-1 tandem.net=vpn0:10.2.0.2/24 tandem.peer=10.2.0.1 tandem.script=section-scribble tandem.scribble_seconds=15" \
  || fail "the hostile VM2 did not boot"
pid2=$TANDEM_PID
wait_for "$v2" "SCRIBBLE-START|SCRIBBLE error" 240 "$pid2" || { tail -n 20 "$v2"; tail -n 20 "$v1"; fail "VM2 never linked with VM1"; }
grep -aq "SCRIBBLE-START" "$v2" || { tail -n 20 "$v2"; fail "VM2 could not ping VM1 before turning hostile"; }
log "VM2 reached VM1 ($(grep -a "SCRIBBLE-START" "$v2" | tr -d '\r')); its guest now scribbles its section"
wait_for "$v2" "SCRIBBLE-DONE" 240 "$pid2" || { tail -n 30 "$v2"; cat "$v2.stderr"; fail "the hostile VM2's module did not finish"; }
wait_exit "$pid2" 120; rc2=$RC
tr -d '\r' < "$v2" > "$v2.txt"
grep -E "^SCRIBBLE" "$v2.txt" | sed 's/^/    /'
grep -q "^SCRIBBLE-DONE status=0" "$v2.txt" || fail "the section scribbler failed to run in VM2"
grep -qE "section_scribbler: round [0-9]* class runaway" "$v2.txt" || fail "the scribbler did not get through all its classes"
[[ $rc2 -eq 0 ]] || { cat "$v2.stderr"; fail "the hostile VM2's tandem exited with $rc2"; }
kill -0 "$pid1" 2>/dev/null || { cat "$v1.stderr"; fail "VM1's tandem died while VM2 scribbled"; }

boot_tandem_ready "$v3" 300 --memory 512M --vhost-pci "socket=$S,mode=symmetric,listen=off" \
  --cmdline "console=ttyS0 panic=-1 tandem.net=vpn0:10.2.0.2/24 tandem.rx_if=vpn0 tandem.peer=10.2.0.1 tandem.script=sym-clean-peer" \
  || fail "the clean VM2 did not boot"
pid3=$TANDEM_PID
wait_exit "$pid1" 300; rc1=$RC
wait_exit "$pid3" 60; rc3=$RC
tr -d '\r' < "$v1" > "$v1.txt"
grep -E "^(SYMH|LINK|PING|DMESG)" "$v1.txt"
[[ $rc1 -eq 0 ]] || { tail -n 30 "$v1.txt"; cat "$v1.stderr"; fail "VM1's tandem exited with $rc1"; }
[[ $rc3 -eq 0 ]] || { tail -n 30 "$v3"; cat "$v3.stderr"; fail "the clean VM2's tandem exited with $rc3"; }
check_line "$v1.txt" "^SYMH-CLEAN-PEER" "the clean VM2 never reached VM1"
check_line "$v1.txt" "^PING-OK 10.2.0.2" "VM1 could not ping the clean VM2 after the hostile one"
alarms="$(kernel_alarms "$v1.txt")"
[[ -z "$alarms" ]] || { echo "$alarms"; fail "VM1's kernel log shows a BUG/WARNING/Oops"; }
drops=$(sed -n 's/^LINK \(rx_bad[a-z_]*\|ring_errors\|tx_bad[a-z_]*\|peer_bad[a-z_]*\): \([0-9]*\)$/\2/p' "$v1.txt" | awk '{s += $1} END {print s + 0}')
(( drops >= 1 )) || fail "VM1's driver counted nothing bad in the scribbled section"
# The first two classes reach VM1 while its link is still up: their entries must be dropped and
# counted one by one. (Later classes make VM1 stop reading VM2's section until a new peer:
# ready flapping, a bad header and a runaway index each end the link from VM1's side.)
(( $(hostile_counter "$v1.txt" rx_bad_len) >= 1 )) || fail "VM1 counted none of the bad lengths (class lens)"
(( $(hostile_counter "$v1.txt" rx_bad_hdr) >= 1 )) || fail "VM1 counted none of the bad virtio-net headers (class hdrs)"
log "passed: VM1 counted $(grep -E '^LINK (rx_bad|ring_errors|tx_bad|peer_bad)' "$v1.txt" | sed 's/^LINK //' | tr '\n' ' '); the clean VM2 answered pings afterwards"
