# bench/lib/ovs.sh: OVS with DPDK started by hand for a benchmark, and waiting for vhost-user
# sockets (sourced by bench/lib/vm-pair.sh inside the nested host, and by bench/pvp on the real CPU).
# Expects: tmp (a scratch directory), L (where logs go), CUR (a name for this run's logs),
# BENCH_TAG and say (message prefix and printer). OVS_PMD_MASK: the PMD thread's CPUs (default 0x2).

# wait_sockets SECONDS PID FILE...: until every FILE is a socket; fails when PID has ended.
wait_sockets() {
  local pid="$2" end=$((SECONDS + $1)) f ok; shift 2
  while (( SECONDS < end )); do
    ok=1
    for f in "$@"; do [[ -S "$f" ]] || ok=0; done
    [[ $ok -eq 1 ]] && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# OVS with DPDK, no systemd: a private database and run directory, ovs-vswitchd-dpdk started by
# hand; DPDK on 2 MiB huge pages reserved in L1 (BENCH_NET_OVS_MEM=nohuge: without huge pages,
# --no-huge --legacy-mem, which starts but crashed the nested L1 kernel in both runs tried),
# a bridge of datapath_type=netdev with dpdkvhostuser ports (OVS is the vhost-user server, the VMMs
# connect as clients, as with testpmd). One PMD thread on core 1; flows: the default NORMAL.
# ovs_up [PORT...]: the ports' names, also their sockets' names in $OVS_DIR (default vhuA vhuB).
OVS_VSWITCHD=/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk
OVS_MEM="${BENCH_NET_OVS_MEM:-hugepages}"   # hugepages | nohuge (nohuge crashed the nested L1 twice)
OVS_HUGEPAGES=300                           # 2 MiB pages (600 MiB; OVS gets --socket-mem 512)
OVS_PREV_HP=""
ovs_vsctl() { ovs-vsctl --db="unix:$OVS_DIR/db.sock" --timeout=180 "$@"; }
OVS_PORTS=()
ovs_up() {
  OVS_PORTS=("$@")
  [[ ${#OVS_PORTS[@]} -gt 0 ]] || OVS_PORTS=(vhuA vhuB)
  [[ -x "$OVS_VSWITCHD" ]] || { echo "$BENCH_TAG: missing $OVS_VSWITCHD (Debian package openvswitch-switch-dpdk; tools/setup)" >&2; return 1; }
  OVS_DIR="$tmp/ovs"
  rm -rf "$OVS_DIR"
  mkdir -p "$OVS_DIR"
  export OVS_RUNDIR="$OVS_DIR" OVS_LOGDIR="$OVS_DIR" OVS_DBDIR="$OVS_DIR" OVS_SYSCONFDIR="$OVS_DIR"
  ovsdb-tool create "$OVS_DIR/conf.db" /usr/share/openvswitch/vswitch.ovsschema
  ovsdb-server "$OVS_DIR/conf.db" --remote="punix:$OVS_DIR/db.sock" --unixctl="$OVS_DIR/ovsdb-server.ctl" \
    --pidfile="$OVS_DIR/ovsdb-server.pid" --log-file="$OVS_DIR/ovsdb-server.log" -vconsole:off --detach 2>>"$OVS_DIR/ovsdb-server.log"
  ovs_vsctl --no-wait init
  local extra="--no-pci --file-prefix=benchovs" mem=()
  if [[ $OVS_MEM == hugepages ]]; then
    # 2 MiB huge pages reserved in L1 for OVS only (released in ovs_down); OVS adds --in-memory.
    mountpoint -q /dev/hugepages || mount -t hugetlbfs nodev /dev/hugepages
    OVS_PREV_HP="$(cat /proc/sys/vm/nr_hugepages)"
    (( OVS_PREV_HP >= OVS_HUGEPAGES )) || echo "$OVS_HUGEPAGES" > /proc/sys/vm/nr_hugepages
    local got; got="$(cat /proc/sys/vm/nr_hugepages)"
    (( got * 2 >= 512 )) || { echo "$BENCH_TAG: could reserve only $got huge pages for OVS" >&2; return 1; }
    mem=(other_config:dpdk-socket-mem=512)
  else
    # Without huge pages: --no-huge implies legacy memory, and OVS's own --in-memory clashes with
    # it unless --legacy-mem is given explicitly.
    extra="--no-huge --legacy-mem -m 1024 $extra"
  fi
  ovs_vsctl --no-wait set Open_vSwitch . other_config:dpdk-init=true "other_config:dpdk-extra=$extra" \
    "other_config:pmd-cpu-mask=${OVS_PMD_MASK:-0x2}" "${mem[@]}"
  local t0=$SECONDS
  if ! "$OVS_VSWITCHD" "unix:$OVS_DIR/db.sock" --unixctl="$OVS_DIR/vswitchd.ctl" \
       --pidfile="$OVS_DIR/vswitchd.pid" --log-file="$OVS_DIR/vswitchd.log" -vconsole:off --detach 2>>"$OVS_DIR/vswitchd.log"; then
    tail -n 20 "$OVS_DIR/vswitchd.log" >&2
    echo "$BENCH_TAG: ovs-vswitchd-dpdk did not start" >&2
    return 1
  fi
  ovs_vsctl add-br ovsbr0 -- set bridge ovsbr0 datapath_type=netdev
  local p
  local -a socks=()
  for p in "${OVS_PORTS[@]}"; do
    ovs_vsctl add-port ovsbr0 "$p" -- set Interface "$p" type=dpdkvhostuser
    socks+=("$OVS_DIR/$p")
  done
  if ! wait_sockets 120 "$(cat "$OVS_DIR/vswitchd.pid")" "${socks[@]}"; then
    tail -n 20 "$OVS_DIR/vswitchd.log" >&2
    echo "$BENCH_TAG: ovs-vswitchd-dpdk did not create its vhost-user sockets" >&2
    return 1
  fi
  say "  ovs-vswitchd-dpdk up after $((SECONDS - t0)) s (dpdk_initialized=$(ovs_vsctl get Open_vSwitch . dpdk_initialized))"
}
ovs_stop() {
  local f p
  ovs-appctl -t "$OVS_DIR/vswitchd.ctl" exit --cleanup >/dev/null 2>&1 || true
  ovs-appctl -t "$OVS_DIR/ovsdb-server.ctl" exit >/dev/null 2>&1 || true
  sleep 0.3
  for f in vswitchd ovsdb-server; do
    p="$(cat "$OVS_DIR/$f.pid" 2>/dev/null || true)"
    [[ -n "$p" ]] && kill -KILL "$p" 2>/dev/null || true
  done
}
ovs_down() {
  [[ -n "$OVS_DIR" ]] || return 0
  ovs-appctl -t "$OVS_DIR/vswitchd.ctl" dpif-netdev/pmd-stats-show 2>/dev/null | grep -E 'packets received|avg processing' \
    | head -n 2 | sed "s|^ *|$BENCH_TAG   ovs: |" || true
  local p
  for p in "${OVS_PORTS[@]}"; do
    ovs_vsctl get Interface "$p" statistics 2>/dev/null | sed "s|^|$BENCH_TAG   ovs $p: |" || true
  done
  cp "$OVS_DIR/vswitchd.log" "$L/$CUR-ovs-vswitchd.log" 2>/dev/null || true
  ovs_stop
  if [[ $OVS_MEM == hugepages && -n "$OVS_PREV_HP" ]]; then echo "$OVS_PREV_HP" > /proc/sys/vm/nr_hugepages || true; fi
  OVS_DIR=""
  unset OVS_RUNDIR OVS_LOGDIR OVS_DBDIR OVS_SYSCONFDIR
}
