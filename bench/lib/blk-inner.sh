#!/bin/bash
# bench/lib/blk-inner.sh RUNS SECONDS REPEAT: the measuring half of bench/blk; runs where /dev/kvm
# works. Each run boots the Debian guest (read-only root with a tmpfs overlay) once under tandem and
# once under QEMU (order alternating), with the same second disk, a raw image in this host's /tmp;
# the guest's blk-bench runs fio on it (REPEAT times SECONDS of 4 KiB random reads and of 1 MiB
# sequential writes) and powers off. Output: one "RESULT VMM RUN METRIC VALUE" line per measurement.
set -uo pipefail
runs="$1" secs="$2" repeat="$3"
tandem="$(pwd)/bazel-bin/vmm/tandem"
K="$TANDEM_DEBIAN_KERNEL" I="$TANDEM_DEBIAN_INITRD" ROOT="$TANDEM_DEBIAN_DISK"
tmp="$(mktemp -d /tmp/bench-blk.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
cmdline="root=/dev/vda ro fsck.mode=skip tandem.overlay=tmpfs console=ttyS0 quiet tandem.script=blk-bench"
cmdline+=" tandem.blk_seconds=$secs tandem.blk_repeat=$repeat tandem.poweroff=1"
# The disk under test: 1 GiB, every block written first (no holes: reads hit data for both VMMs).
data="$tmp/data.raw"
dd if=/dev/urandom of="$data" bs=1M count=1024 status=none || { echo "cannot write $data"; exit 1; }
echo "disk under test: $data, 1 GiB raw, random contents, on $(df --output=fstype "$tmp" | tail -n 1); root: $ROOT (read-only)"

# launch VMM LOG: one Debian guest, 1 vCPU, 1 GiB, in the background; sets PID.
launch() {
  case "$1" in
    tandem) "$tandem" vm --kernel "$K" --initrd "$I" --memory 1G --cpus 1 --cmdline "$cmdline" --shutdown-timeout 240 \
              --disk "path=$ROOT,readonly=on" --disk "path=$data" --serial "file:$2" </dev/null 2>"$2.err" & ;;
    qemu) qemu-system-x86_64 -M pc -accel kvm -cpu host -m 1G -smp 1 -nodefaults -no-user-config -display none \
              -no-reboot -serial "file:$2" -kernel "$K" -initrd "$I" -append "$cmdline" \
              -drive "file=$ROOT,format=raw,if=virtio,readonly=on" -drive "file=$data,format=raw,if=virtio" \
              </dev/null 2>"$2.err" & ;;
  esac
  PID=$!
}

for ((r = 1; r <= runs; r++)); do
  order="tandem qemu"; (( r % 2 == 0 )) && order="qemu tandem"
  for vmm in $order; do
    log="$tmp/$vmm-$r.log"
    : > "$log"
    t0=$SECONDS
    launch "$vmm" "$log"
    end=$((SECONDS + 1500))
    while kill -0 "$PID" 2>/dev/null && (( SECONDS < end )); do sleep 1; done
    kill -0 "$PID" 2>/dev/null && { echo "run $r $vmm: still running after 1500 s: killed"; kill -KILL "$PID"; }
    wait "$PID" 2>/dev/null
    tr -d '\r' < "$log" | grep -ao "BLK-BENCH .*" | sed "s/^/run $r $vmm: /"
    n=$(tr -d '\r' < "$log" | grep -ac "BLK-BENCH randread_4k iops=")
    (( n > 0 )) || { echo "run $r $vmm: no result (console tail, stderr below)"; tail -n 15 "$log"; tail -n 5 "$log.err"; }
    tr -d '\r' < "$log" | awk -v vmm="$vmm" -v run="$r" '
      { sub(/.*BLK-BENCH /, "BLK-BENCH ") }
      /^BLK-BENCH randread_4k iops=/ { split($3, a, "="); print "RESULT", vmm, run, "randread_4k_iops", a[2] }
      /^BLK-BENCH seqwrite_1m bw_kib=/ { split($3, a, "="); printf "RESULT %s %s seqwrite_1m_mib_s %.1f\n", vmm, run, a[2] / 1024 }'
    echo "run $r $vmm: done in $((SECONDS - t0)) s"
  done
done
