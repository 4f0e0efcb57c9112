# tools/lib/arm64.sh: arm64 (aarch64) pieces for tandem's shell tools on an x86_64 machine (sourced
# after common.sh, not run): Debian arm64 packages fetched with `apt-get download` and unpacked with
# `dpkg-deb -x` into the tandem cache (the stock arm64 kernel and its modules, busybox, bash, the
# guest's tools), ELF library closures without ldd, busybox applet lists without running busybox.
# Needs multiarch: `dpkg --add-architecture arm64 && apt-get update`. Everything is cached under
# <cache>/arm64 and reused as it is (also offline); errors exit 2 naming what could not be had.

# arm64_cache: the directory for unpacked arm64 packages.
arm64_cache() {
  local dir
  dir="$(tandem_cache_dir)/arm64" || exit 2
  mkdir -p "$dir" || die 2 "cannot create $dir"
  echo "$dir"
}

# arm64_unpack NAME PKG...: download the arm64 packages PKG (names without :arm64) and unpack them
# all into one tree; prints its path, <cache>/arm64/NAME-<hash of the package names>. The tree is
# kept as long as it exists (its MANIFEST lists the package versions); delete it to refetch.
arm64_unpack() {
  local name="$1"; shift
  local cache dir tmp p deb
  cache="$(arm64_cache)" || exit 2
  dir="$cache/$name-$(printf '%s\n' "$@" | sha256sum | cut -c1-12)"
  if [[ -f "$dir/MANIFEST" ]]; then echo "$dir"; return; fi
  tmp="$(mktemp -d "$cache/.fetch.XXXXXX")" || die 2 "cannot create a directory in $cache"
  mkdir -p "$tmp/debs" "$tmp/root"
  for p in "$@"; do
    if ! (cd "$tmp/debs" && apt-get download -q "$p:arm64" >"$tmp/apt.log" 2>&1); then
      sed 's/^/  /' "$tmp/apt.log" >&2
      rm -rf "$tmp"
      die 2 "cannot download the Debian package $p:arm64 (needs 'dpkg --add-architecture arm64' and 'apt-get update')"
    fi
  done
  for deb in "$tmp"/debs/*.deb; do
    dpkg-deb -x "$deb" "$tmp/root" || { rm -rf "$tmp"; die 2 "cannot unpack $deb"; }
    dpkg-deb -W --showformat='${Package}:${Architecture} ${Version}\n' "$deb" >> "$tmp/root/MANIFEST"
  done
  rm -rf "$tmp/debs"
  # Another run may have finished the same tree meanwhile: keep the first one.
  mv -T "$tmp/root" "$dir" 2>/dev/null || [[ -f "$dir/MANIFEST" ]] || { rm -rf "$tmp"; die 2 "cannot write $dir"; }
  rm -rf "$tmp"
  echo "$dir"
}

# arm64_kernel_release: the stock Debian arm64 kernel release to use: TANDEM_ARM64_KERNEL_RELEASE;
# else the arm64 twin of the x86 release (tandem_kernel_release, -amd64 -> -arm64) when it is
# cached or apt knows it; else the newest linux-image-*-arm64 apt knows.
arm64_kernel_release() {
  if [[ -n "${TANDEM_ARM64_KERNEL_RELEASE:-}" ]]; then echo "$TANDEM_ARM64_KERNEL_RELEASE"; return; fi
  local x86 rel cache newest
  cache="$(arm64_cache)" || exit 2
  x86="$(tandem_kernel_release 2>/dev/null)"
  if [[ -n "$x86" ]]; then
    rel="${x86%-amd64}-arm64"
    if [[ -f "$cache/linux-$rel/MANIFEST" ]] || apt-cache show "linux-image-$rel:arm64" >/dev/null 2>&1; then
      echo "$rel"; return
    fi
  fi
  newest="$(apt-cache pkgnames linux-image- 2>/dev/null | sed -n 's/^linux-image-\([0-9.]*-[0-9]*-arm64\)$/\1/p' | sort -V | tail -n1)"
  [[ -n "$newest" ]] || die 2 "no arm64 kernel: apt knows no linux-image-*-arm64 (needs 'dpkg --add-architecture arm64' and 'apt-get update')"
  echo "$newest"
}

# arm64_kernel_root REL: the unpacked linux-image-REL package with a modules.dep (depmod run on the
# tree), cached as <cache>/arm64/linux-REL; prints its path. The kernel is ROOT/boot/vmlinuz-REL (an
# uncompressed arm64 Image, despite the name), the modules ROOT/lib/modules/REL.
arm64_kernel_root() {
  local rel="$1" cache dir tmp
  cache="$(arm64_cache)" || exit 2
  dir="$cache/linux-$rel"
  if [[ -f "$dir/MANIFEST" ]]; then echo "$dir"; return; fi
  tmp="$(arm64_unpack "linux-image-$rel" "linux-image-$rel")" || exit 2
  [[ -f "$tmp/boot/vmlinuz-$rel" && -d "$tmp/lib/modules/$rel/kernel" ]] \
    || die 2 "the package linux-image-$rel:arm64 has no boot/vmlinuz-$rel with modules (in $tmp)"
  depmod -b "$tmp" "$rel" || die 2 "depmod failed on the arm64 modules in $tmp/lib/modules/$rel"
  mv -T "$tmp" "$dir" 2>/dev/null || [[ -f "$dir/MANIFEST" ]] || die 2 "cannot write $dir"
  rm -rf "$tmp"
  echo "$dir"
}

# busybox_applets BINARY: the applet names compiled into a busybox binary of any architecture (the
# NUL-separated name table that starts "[", "[["), one a line; what `BINARY --list` prints.
busybox_applets() {
  tr '\0' '\n' < "$1" | awk 'on && $0 == "" {exit} on {print} !on && prev == "[" && $0 == "[[" {on = 1; print "["; print "[["} {prev = $0}'
}

# arm64_install_busybox DESTDIR BUSYBOX: the arm64 static busybox and a symlink per applet in
# DESTDIR/bin (as install_busybox does for the host's).
arm64_install_busybox() {
  local dest="$1" bb="$2" applet n=0
  mkdir -p "$dest/bin" "$dest/sbin" "$dest/usr/bin" "$dest/usr/sbin"
  cp "$bb" "$dest/bin/busybox"
  for applet in $(busybox_applets "$bb"); do
    n=$((n + 1))
    [[ "$applet" == busybox ]] && continue
    [[ -e "$dest/bin/$applet" ]] || ln -s busybox "$dest/bin/$applet"
  done
  (( n > 100 )) || die 2 "cannot read the applet list of $bb (found $n)"
}

# arm64_elf_closure ROOT FILE...: FILE (paths inside ROOT, an unpacked arm64 tree) and, recursively,
# the libraries they need (DT_NEEDED, looked up in ROOT's multiarch and plain lib directories) and
# their program interpreter; one path inside ROOT a line, sorted, each once. Exits 2 naming a
# library not in ROOT.
arm64_elf_closure() {
  local root="$1"; shift
  local -A seen=()
  local queue=("$@") f lib d found interp
  while [[ ${#queue[@]} -gt 0 ]]; do
    f="${queue[0]}"; queue=("${queue[@]:1}")
    [[ -n "${seen[$f]:-}" ]] && continue
    [[ -e "$root$f" ]] || die 2 "missing $f in $root"
    seen[$f]=1
    interp="$(readelf -lW "$root$f" 2>/dev/null | sed -n 's/.*Requesting program interpreter: \(.*\)]$/\1/p')"
    [[ -n "$interp" ]] && queue+=("$interp")
    for lib in $(readelf -dW "$root$f" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'); do
      found=""
      for d in /lib/aarch64-linux-gnu /usr/lib/aarch64-linux-gnu /lib /usr/lib; do
        [[ -e "$root$d/$lib" ]] && { found="$d/$lib"; break; }
      done
      [[ -n "$found" ]] || die 2 "$lib (needed by $f) is in none of the arm64 packages unpacked in $root"
      queue+=("$found")
    done
  done
  printf '%s\n' "${!seen[@]}" | LC_ALL=C sort
}

# arm64_kernel_headers REL: the kbuild directory for modules of the arm64 kernel REL:
# linux-headers-REL:arm64 unpacked into the cache. It needs the host's linux-headers-<abi>-common
# (its Makefile includes that) and linux-kbuild-<version> (its scripts: x86 programs), which
# linux-headers-amd64 installs for the x86 twin of REL. Prints the directory; build with
# make ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-.
arm64_kernel_headers() {
  local rel="$1" root kdir common kbuild have want
  root="$(arm64_unpack "linux-headers-$rel" "linux-headers-$rel")" || exit 2
  kdir="$root/usr/src/linux-headers-$rel"
  [[ -f "$kdir/Module.symvers" ]] || die 2 "the package linux-headers-$rel:arm64 has no Module.symvers (in $root)"
  common="$(sed -n 's/^include \(.*\)\/Makefile$/\1/p' "$kdir/Makefile")"
  [[ -f "$common/Makefile" ]] \
    || die 2 "missing $common (the arm64 headers in $kdir include it): install ${common##*/}"
  have="$(dpkg-query -W -f='${Version}' "${common##*/}" 2>/dev/null)"
  want="$(sed -n 's/^linux-headers-[^ ]* //p' "$root/MANIFEST")"
  [[ "$have" == "$want" ]] \
    || echo "$(basename "$0"): warning: ${common##*/} is $have, linux-headers-$rel:arm64 is $want" >&2
  kbuild="$(readlink "$kdir/scripts")"          # ../../lib/linux-kbuild-<version>/scripts
  kbuild="${kbuild#../../lib/}"; kbuild="${kbuild%/scripts}"
  [[ -d "/usr/lib/$kbuild/scripts" ]] || die 2 "missing /usr/lib/$kbuild (the arm64 headers' build tools): install $kbuild"
  mkdir -p "$root/usr/lib"
  [[ -L "$root/usr/lib/$kbuild" ]] || ln -s "/usr/lib/$kbuild" "$root/usr/lib/$kbuild"
  echo "$kdir"
}
