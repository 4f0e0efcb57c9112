// vmm/vm.h: builds and runs one VM from a validated configuration.
//
// The boot path as plain steps: KVM and the in-kernel irqchip/PIT, guest RAM and its memslots, the
// page tables/GDT, ACPI tables and the Linux boot protocol in guest memory, the platform devices on
// the buses, the vCPUs; then the event loop until something asks the VMM to end.
#pragma once

#include "vmm/vm_config.h"

namespace tandem {

struct VmOutcome {
  int status;           // the process exit status (exit_controller.h)
  std::string message;  // why it ended (empty for a clean power-off)
};

// Takes the boot files by value: they are freed once loaded into guest memory.
VmOutcome run_vm(const VmConfig& cfg, BootFiles files);

}  // namespace tandem
