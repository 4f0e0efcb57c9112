#!/bin/bash
# bench/lib/boot-inner.sh RUNS: the measuring half of bench/boot; runs where /dev/kvm works.
set -uo pipefail
runs="$1"
tandem="$(pwd)/bazel-bin/vmm/tandem"
K="$TANDEM_GUEST_KERNEL"
I="$TANDEM_GUEST_INITRD"
cmdline='console=ttyS0 quiet panic=-1 tandem.run="sleep 3"'
tmp="$(mktemp -d /tmp/bench-boot.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
now_ms() { date +%s%3N; }
# Huge pages for tandem's memfd RAM, as QEMU's anonymous RAM gets them (THP "always" for anon).
echo advise > /sys/kernel/mm/transparent_hugepage/shmem_enabled 2>/dev/null

# launch VMM LOG: start one VM in the background, set PID.
launch() {
  local vmm="$1" log="$2"
  case "$vmm" in
    tandem) "$tandem" vm --kernel "$K" --initrd "$I" --memory 512M --cpus 1 --cmdline "$cmdline" \
              --serial "file:$log" </dev/null 2>"$log.err" & ;;
    qemu-microvm) qemu-system-x86_64 -M microvm -accel kvm -cpu host -m 512M -smp 1 -nodefaults -no-user-config \
              -display none -no-reboot -serial "file:$log" -kernel "$K" -initrd "$I" -append "$cmdline" </dev/null 2>"$log.err" & ;;
    qemu-pc) qemu-system-x86_64 -M pc -accel kvm -cpu host -m 512M -smp 1 -nodefaults -no-user-config \
              -display none -no-reboot -serial "file:$log" -kernel "$K" -initrd "$I" -append "$cmdline" </dev/null 2>"$log.err" & ;;
  esac
  PID=$!
}

declare -A times
overheads=()
for ((r = 1; r <= runs; r++)); do
  for vmm in tandem qemu-microvm qemu-pc; do
    log="$tmp/$vmm-$r.log"
    : > "$log"
    t0=$(now_ms)
    launch "$vmm" "$log"
    ready=""
    for ((i = 0; i < 12000; i++)); do
      if grep -q TANDEM-GUEST-READY "$log" 2>/dev/null; then ready=$(( $(now_ms) - t0 )); break; fi
      kill -0 "$PID" 2>/dev/null || break
      sleep 0.01
    done
    if [[ "$vmm" == tandem && -n "$ready" ]]; then
      # Overhead: everything the process holds except guest RAM (the memfd pages are RssShmem).
      sample="$(awk '/^RssAnon/ {a=$2} /^RssFile/ {f=$2} /^RssShmem/ {s=$2} END {print a, f, s}' "/proc/$PID/status" 2>/dev/null)"
      [[ -n "$sample" ]] && overheads+=("$sample")
    fi
    wait "$PID" 2>/dev/null
    if [[ -z "$ready" ]]; then
      echo "run $r $vmm: no ready marker (console tail below)"; tail -n 5 "$log"; cat "$log.err"
      times[$vmm]+="NA "
    else
      bt="$(sed -n 's/.*boot-timer: guest init reached after \([0-9.]*\) ms.*/\1/p' "$log.err")"
      echo "run $r $vmm: ready after $ready ms${bt:+ (guest boot timer: $bt ms)}"
      times[$vmm]+="$ready "
    fi
  done
done

stats() {  # prints "median min max" of the numbers given (NA skipped)
  tr ' ' '\n' | grep -E '^[0-9]+$' | sort -n | awk '{a[NR]=$1} END {if (NR==0) {print "NA NA NA"; exit}
    m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; print m, a[1], a[NR]}'
}
echo
echo "boot to init (ms, $runs runs each, 1 vCPU, 512 MiB, same kernel and initramfs):"
printf "  %-14s %8s %8s %8s\n" vmm median min max
for vmm in tandem qemu-microvm qemu-pc; do
  read -r med min max <<<"$(echo "${times[$vmm]}" | stats)"
  printf "  %-14s %8s %8s %8s\n" "$vmm" "$med" "$min" "$max"
  eval "med_${vmm//-/_}=$med"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "NA" || b == "NA" || b == 0) print "NA"; else printf "%.2f", a / b }'; }
echo "  tandem / qemu-microvm = $(ratio "$med_tandem" "$med_qemu_microvm")  (target <= 0.60)"
echo "  tandem / qemu-pc      = $(ratio "$med_tandem" "$med_qemu_pc")"
echo
echo "tandem memory at guest init: overhead = RssAnon + RssFile (binary and libraries); guest RAM is RssShmem"
echo "shmem transparent huge pages: $(cat /sys/kernel/mm/transparent_hugepage/shmem_enabled 2>/dev/null)"
for o in "${overheads[@]}"; do
  read -r a f s <<<"$o"
  echo "  anon $a kB  file $f kB  guest RAM touched $s kB  -> overhead $(( (a + f) / 1024 )).$(( ((a + f) % 1024) * 10 / 1024 )) MiB (anon only $(( a / 1024 )).$(( (a % 1024) * 10 / 1024 )) MiB)"
done
