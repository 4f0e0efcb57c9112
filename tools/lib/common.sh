# tools/lib/common.sh: helpers shared by tandem's shell tools (sourced, not run).
# Kernel and module discovery, the cache directory, reproducible initramfs packing, errors.

TANDEM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# die CODE MESSAGE: one-line error naming the tool, then exit CODE.
die() {
  local code="$1"; shift
  echo "$(basename "$0"): $*" >&2
  exit "$code"
}

# The cache directory for images, probes and verdicts. Created on demand; fails with exit 2 when it
# cannot be created or has less than 256 MiB free.
tandem_cache_dir() {
  local dir="${TANDEM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tandem}"
  mkdir -p "$dir" 2>/dev/null || die 2 "cannot create the cache directory $dir"
  [[ -w "$dir" ]] || die 2 "the cache directory $dir is not writable"
  local free_kib
  free_kib=$(df -Pk "$dir" | awk 'NR==2 {print $4}')
  if [[ -n "$free_kib" && "$free_kib" -lt 262144 ]]; then
    die 2 "no space for the cache: $dir has $((free_kib / 1024)) MiB free, 256 MiB needed"
  fi
  echo "$dir"
}

# The stock Debian kernel release to boot: TANDEM_KERNEL_RELEASE, else the newest /boot/vmlinuz-*-amd64
# whose modules are installed.
tandem_kernel_release() {
  if [[ -n "${TANDEM_KERNEL_RELEASE:-}" ]]; then
    [[ -f "/boot/vmlinuz-$TANDEM_KERNEL_RELEASE" ]] || die 2 "missing kernel /boot/vmlinuz-$TANDEM_KERNEL_RELEASE (TANDEM_KERNEL_RELEASE)"
    echo "$TANDEM_KERNEL_RELEASE"; return
  fi
  local k rel best=""
  best=$(for k in /boot/vmlinuz-*-amd64; do
           rel="${k#/boot/vmlinuz-}"
           [[ -f "$k" && -d "/lib/modules/$rel/kernel" ]] && echo "$rel"
         done | sort -V | tail -n1)
  [[ -n "$best" ]] || die 2 "missing kernel: no /boot/vmlinuz-*-amd64 with modules; install linux-image-amd64 (tools/setup)"
  echo "$best"
}

tandem_busybox() {
  local bb
  for bb in /bin/busybox /usr/bin/busybox; do
    if [[ -x "$bb" ]] && file -L "$bb" 2>/dev/null | grep -q 'statically linked'; then echo "$bb"; return; fi
  done
  # `file` may be missing; trust the busybox-static package.
  [[ -x /bin/busybox ]] && dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' && { echo /bin/busybox; return; }
  die 2 "missing busybox: install busybox-static (tools/setup)"
}

# resolve_modules KVER MODULE...: print the .ko paths needed, dependencies first, each once. The
# modules are /lib/modules/KVER's, or $modules_root/lib/modules/KVER's when the caller sets
# modules_root (an unpacked kernel package of another architecture, with its modules.dep).
resolve_modules() {
  local kver="$1"; shift
  local m
  for m in "$@"; do
    modprobe ${modules_root:+-d "$modules_root"} -S "$kver" --show-depends "$m" 2>/dev/null | awk '$1 == "insmod" {print $2}' \
      || die 2 "cannot resolve kernel module $m for $kver"
    [[ ${PIPESTATUS[0]} -eq 0 ]] || die 2 "unknown kernel module $m for $kver"
  done | awk '!seen[$0]++'
}

# install_modules KVER DESTDIR MODULE...: copy the modules (decompressed) into DESTDIR/modules and write
# DESTDIR/modules/order, one file name per line in load order.
install_modules() {
  local kver="$1" dest="$2"; shift 2
  mkdir -p "$dest/modules"
  : > "$dest/modules/order"
  local path name
  while read -r path; do
    name="$(basename "$path")"
    case "$name" in
      *.ko.xz) name="${name%.xz}"; xz -dc "$path" > "$dest/modules/$name" ;;
      *.ko.zst) name="${name%.zst}"; zstd -qdc "$path" > "$dest/modules/$name" ;;
      *.ko.gz) name="${name%.gz}"; gzip -dc "$path" > "$dest/modules/$name" ;;
      *) cp "$path" "$dest/modules/$name" ;;
    esac
    echo "$name" >> "$dest/modules/order"
  done < <(resolve_modules "$kver" "$@")
}

# install_busybox DESTDIR: the static busybox and a symlink per applet in DESTDIR/bin.
install_busybox() {
  local dest="$1" bb applet
  bb="$(tandem_busybox)"
  mkdir -p "$dest/bin" "$dest/sbin" "$dest/usr/bin" "$dest/usr/sbin"
  cp "$bb" "$dest/bin/busybox"
  for applet in $("$bb" --list); do
    [[ "$applet" == busybox ]] && continue
    [[ -e "$dest/bin/$applet" ]] || ln -s busybox "$dest/bin/$applet"
  done
}

# pack_initramfs SRCDIR OUT: a reproducible gzip'ed newc cpio (sorted names, fixed times, no gzip name).
pack_initramfs() {
  local src="$1" out="$2" tmp="$2.tmp.$$"
  find "$src" -exec touch -h -d @0 {} +
  (cd "$src" && find . -print0 | LC_ALL=C sort -z | cpio --null --create --format=newc --reproducible --owner=0:0 --quiet) \
    | gzip -n -9 > "$tmp"
  mv -f "$tmp" "$out"
}

# hash_of FILE...: a short content hash used in cache keys.
hash_of() {
  cat "$@" | sha256sum | cut -c1-16
}
