# Runs inside the L1 chroot (host's bash): restores the caller's environment and directory, runs the
# command, and leaves its exit status in the control share.
ctl=/run/nested-kvm
. "$ctl/env"
cd "$(cat "$ctl/cwd")" || { echo "nested-kvm (L1): cannot enter the working directory" >&2; echo 125 > "$ctl/status"; exit; }
mapfile -d '' -t argv < "$ctl/argv"
"${argv[@]}"
echo "$?" > "$ctl/status"
