#!/bin/bash
# bench/lib/chart_test.sh: the chart helpers on fixed input (bazel test //bench:chart_test): a
# MEDIAN line wins, a cell without one takes the median of its RESULT lines (a nested host that ended
# before its report), a cell with neither is NA, and bar_chart draws nothing from a table of NAs.
set -euo pipefail
if [[ -n "${TEST_SRCDIR:-}" ]]; then here="$TEST_SRCDIR/${TEST_WORKSPACE:-tandem}/bench/lib"; else here="$(dirname "${BASH_SOURCE[0]}")"; fi
. "$here/chart.sh"
oks=0 fails=0
expect() {  # expect WHAT WANT GOT
  if [[ "$2" == "$3" ]]; then echo "ok: $1"; oks=$((oks + 1)); else echo "FAIL: $1"; echo "  want: $2"; echo "  got:  $3"; fails=$((fails + 1)); fi
}
skip() {  # skip WHY: a case that cannot run here (tools/test counts it as skipped, never as passed)
  echo "TANDEM-SKIP: $1"; oks=$((oks + 1))
}
lines='RESULT path=vpci vms=2 run=1 sent_pps=20437 rx_pps=20438
RESULT path=vpci vms=2 run=2 sent_pps=18221 rx_pps=18222
RESULT path=vpci vms=2 run=3 sent_pps=23484 rx_pps=23485
RESULT path=ovs vms=2 run=1 sent_pps=41773 rx_pps=24381
MEDIAN path=ovs vms=2 sent_pps=41000 rx_pps=26331 runs_rx=[24381 26982 26331 ]
RESULT path=vpci vms=3 run=1 sent_pps=1 rx_pps=13676
RESULT path=vpci vms=30 run=1 sent_pps=1 rx_pps=99999
junk rx_pps=5'
got="$(median_chart_data rx_pps "vms=2:2_VMs vms=3:3_VMs vms=4:4_VMs" "path=vpci:vhost-pci path=ovs:ovs-dpdk" <<<"$lines")"
want='group vhost-pci ovs-dpdk
"2 VMs" 20.44 26.33
"3 VMs" 13.68 NA
"4 VMs" NA NA'
expect "MEDIAN first, RESULT medians second, NA for none; vms=3 is not vms=30" "$want" "$got"

got="$(median_chart_data rx_pps "dir=ab,size=60:A->B_64_B" "backend=vpci:vhost-pci" <<<'MEDIAN backend=vpci dir=ab size=1514 rx_pps=7
MEDIAN backend=vpci dir=ab size=60 rx_pps=16000 runs=[1 2]')"
expect "every field of a group must match" $'group vhost-pci\n"A->B 64 B" 16.00' "$got"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
printf 'group a b\n"A->B 64 B" NA NA\n' > "$tmp/none.dat"
echo stale > "$tmp/none.svg"
if bar_chart "$tmp/none.dat" "$tmp/none.svg" t y 2>"$tmp/err"; then rc=0; else rc=$?; fi
expect "no chart from a table of NAs (numbers in its labels do not count), the old one removed" "1 no" "$rc $([[ -e $tmp/none.svg ]] && echo yes || echo no)"
if command -v gnuplot >/dev/null; then
  printf 'group a b\n"2 VMs" 1.5 NA\n"3 VMs" 2 3\n' > "$tmp/some.dat"
  bar_chart "$tmp/some.dat" "$tmp/some.svg" "title" "kpps" 1
  expect "an SVG from a table with values" "yes" "$(grep -q '<svg' "$tmp/some.svg" && echo yes || echo no)"
  mkdir -p "$tmp/run/.cache"
  printf 'RESULT path=vpci vms=2 run=1 rx_pps=20438\r\nMEDIAN path=vpci vms=2 rx_pps=20000\r\n' > "$tmp/run/.cache/x.txt"
  (cd "$tmp/run" && nested_kpps_chart x "vms=2:2_VMs" "path=vpci:vhost-pci" "t" >/dev/null)
  expect "nested_kpps_chart: the table from .cache/NAME.txt (console CRs dropped), the SVG beside it" \
    $'group vhost-pci\n"2 VMs" 20.00 yes' "$(cat "$tmp/run/.cache/x/chart.dat") $([[ -s $tmp/run/.cache/x.svg ]] && echo yes || echo no)"
else
  skip "no gnuplot (tools/setup installs it): an SVG from a table with values"
  skip "no gnuplot (tools/setup installs it): nested_kpps_chart"
fi
expect "display names" "vhost-pci ovs-dpdk tap+bridge x" "$(bench_name vpci) $(bench_name ovs) $(bench_name tap) $(bench_name x)"
# The summary line tools/test counts a unit target's cases by (doctest prints the same).
echo "[doctest] test cases: $((oks + fails)) | $oks passed | $fails failed | 0 skipped"
(( fails == 0 ))
