#!/bin/bash
# bench/lib/dpdk-ref.sh SECONDS: DPDK's own virtio ring between two processes on the real CPU, the
# reference bench/vhost-pci puts beside bench/ring_ref: dpdk-testpmd txonly (64-byte frames) over
# net_virtio_user into dpdk-testpmd rxonly on a net_vhost port, each polling its own core (the
# command lines from shared/notes/environment.md). Needs root and 2 MiB huge pages (512 are
# reserved for the run and the previous count restored). Prints "DPDK-REF rx_pps=N" (the receiver's
# Rx-pps, median of its 2-second reports after the first) or "DPDK-REF error=...".
set -uo pipefail
secs="${1:-5}"
command -v dpdk-testpmd >/dev/null || { echo "DPDK-REF error=no-dpdk-testpmd"; exit 1; }
dir="$(mktemp -d /tmp/dpdk-ref.XXXXXX)"
prev_hp="$(cat /proc/sys/vm/nr_hugepages)"
mounted=0
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null; done
  sleep 0.5
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  echo "$prev_hp" > /proc/sys/vm/nr_hugepages 2>/dev/null
  [[ $mounted -eq 1 ]] && umount /dev/hugepages 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
(( prev_hp >= 512 )) || echo 512 > /proc/sys/vm/nr_hugepages 2>/dev/null
(( $(cat /proc/sys/vm/nr_hugepages) >= 512 )) || { echo "DPDK-REF error=cannot-reserve-huge-pages"; exit 1; }
if ! mountpoint -q /dev/hugepages 2>/dev/null; then
  mkdir -p /dev/hugepages && mount -t hugetlbfs nodev /dev/hugepages && mounted=1 || { echo "DPDK-REF error=cannot-mount-hugetlbfs"; exit 1; }
fi
cpus=$(nproc)
rx_core=0; tx_core=$(( cpus > 1 ? 1 : 0 ))
dpdk-testpmd --lcores="0@$rx_core,1@$rx_core" -n 1 --no-pci --file-prefix=ref-rx-$$ -m 256 \
  --vdev "net_vhost0,iface=$dir/vh.sock" -- --forward-mode=rxonly --auto-start --stats-period 2 --nb-cores=1 \
  </dev/null >"$dir/rx.log" 2>&1 &
pids+=($!)
i=0
until [[ -S "$dir/vh.sock" ]]; do
  i=$((i + 1)); (( i < 300 )) || { tail -n 5 "$dir/rx.log"; echo "DPDK-REF error=no-vhost-socket"; exit 1; }
  sleep 0.1
done
dpdk-testpmd --lcores="0@$tx_core,1@$tx_core" -n 1 --no-pci --file-prefix=ref-tx-$$ -m 256 --single-file-segments \
  --vdev "net_virtio_user0,path=$dir/vh.sock" -- --forward-mode=txonly --txpkts=64 --auto-start --stats-period 2 --nb-cores=1 \
  </dev/null >"$dir/tx.log" 2>&1 &
pids+=($!)
sleep $(( secs + 3 ))
pps="$(tr -d '\r' < "$dir/rx.log" | sed -n 's/.*Rx-pps: *\([0-9]*\).*/\1/p' | awk '$1 > 0' | tail -n +2 | sort -n \
  | awk '{v[NR] = $1} END { if (NR) print v[int((NR + 1) / 2)] }')"
if [[ -n "$pps" ]]; then echo "DPDK-REF rx_pps=$pps"; else tail -n 8 "$dir/rx.log" "$dir/tx.log"; echo "DPDK-REF error=no-rx-pps"; fi
