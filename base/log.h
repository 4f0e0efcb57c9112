// base/log.h: tandem's log lines and its debug switch, for every module (devices and the VMM alike).
//
// A line is "tandem: WHO: WHAT" on stderr, written in one call so that lines of different threads
// do not interleave. Debug lines (unclaimed MMIO, a tap's refused frames...) only while the switch
// is on (`tandem vm --debug`).
#pragma once

#include <string>

namespace tandem {

void log_line(const std::string& who, const std::string& what);

bool debug_logging();
void set_debug_logging(bool on);

}  // namespace tandem
