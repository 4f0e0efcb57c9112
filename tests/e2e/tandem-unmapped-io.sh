#!/bin/bash
# timeout: 240
# e2e: a guest that reads an unknown port and reads/writes unmapped MMIO gets all-ones, tandem logs
# it at debug level, and the guest keeps running to a clean power-off.
. "$(dirname "$0")/lib.sh"
require_kvm
require_tandem
guest_image
log_file="$E2E_TMP/console.log"
run_tandem "$log_file" 200 --cpus 1 --memory 512M --log-level debug --cmdline "console=ttyS0 quiet panic=-1 tandem.script=unmapped-io"
[[ $RC -eq 0 ]] || { tail -n 20 "$log_file"; cat "$log_file.stderr"; fail "tandem exited with $RC"; }
check_line "$log_file" "UNMAPPED port=ff$" "an unknown port did not read 0xff"
check_line "$log_file" "UNMAPPED mmio=0xFFFFFFFF$" "unmapped MMIO did not read all-ones"
check_line "$log_file" "UNMAPPED mmio-after-write=0xFFFFFFFF$" "a write to unmapped MMIO stuck"
check_line "$log_file" "UNMAPPED still-running" "the guest did not keep running"
check_line "$log_file.stderr" "pio read of 1 bytes at 0x510 hits no device" "no debug log for the unknown port"
check_line "$log_file.stderr" "mmio (read|write) of 4 bytes at 0xd0000000 hits no device" "no debug log for unmapped MMIO"
log "passed"
