// vmm/vcpu_set.cc: the vCPU threads and their exit handling.
#include "vmm/vcpu_set.h"
#include "vmm/seccomp/seccomp.h"

#include <signal.h>

#include <cinttypes>
#include <cstdio>
#include <span>

namespace tandem {

namespace {
// The kick signal: its handler does nothing; its delivery makes KVM_RUN return EINTR.
int kick_signal() { return SIGRTMIN + 1; }
void on_kick(int) {}
void install_kick_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = on_kick;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return
    sigaction(kick_signal(), &sa, nullptr);
  });
}

// vm.counters' names for the exits a vCPU thread sees, and each exit_reason's place among them.
enum ExitCounter : size_t { kIo, kMmio, kHlt, kIrqWindow, kIntr, kSystemEvent, kMemoryFault, kOther };
std::vector<std::string> exit_names() {
  return {"io", "mmio", "hlt", "irq_window", "intr", "system_event", "memory_fault", "other"};
}
size_t exit_counter(uint32_t reason) {
  switch (reason) {
    case KVM_EXIT_IO: return kIo;
    case KVM_EXIT_MMIO: return kMmio;
    case KVM_EXIT_HLT: return kHlt;
    case KVM_EXIT_IRQ_WINDOW_OPEN: return kIrqWindow;
    case KVM_EXIT_INTR: return kIntr;
    case KVM_EXIT_SYSTEM_EVENT: return kSystemEvent;
    default: return kOther;
  }
}
}  // namespace

VcpuSet::VcpuSet(std::vector<kvm::Vcpu> vcpus, const Bus& pio, const Bus& mmio, ExitController& exit, RegisterDump dump)
    : vcpus_(std::move(vcpus)), pio_(pio), mmio_(mmio), exit_(exit), dump_(std::move(dump)) {
  for (size_t i = 0; i < vcpus_.size(); ++i) exits_.push_back(std::make_unique<Counters>(exit_names()));
  install_kick_handler();
}

VcpuSet::~VcpuSet() { stop(); }

void VcpuSet::start() {
  std::lock_guard lock(mu_);
  if (started_) return;
  started_ = true;
  for (size_t i = 0; i < vcpus_.size(); ++i) {
    threads_.emplace_back([this, i] { thread_main(i); });
    handles_.push_back(threads_.back().native_handle());
  }
}

void VcpuSet::kick_all() {
  for (size_t i = 0; i < vcpus_.size(); ++i) {
    vcpus_[i].run_state()->immediate_exit = 1;
    if (i < handles_.size()) pthread_kill(handles_[i], kick_signal());
  }
}

void VcpuSet::pause() {
  std::unique_lock lock(mu_);
  if (state_ != State::kRunning || !started_) return;
  state_ = State::kPaused;
  kick_all();
  // A vCPU that ended (the guest powered off, reset or faulted just before the pause) never parks:
  // count it too, or this would wait for ever.
  cv_.wait(lock, [&] { return parked_ + exited_ == threads_.size() || state_ != State::kPaused; });
}

void VcpuSet::resume() {
  std::lock_guard lock(mu_);
  if (state_ != State::kPaused) return;
  state_ = State::kRunning;
  cv_.notify_all();
}

bool VcpuSet::paused() const { return state_ == State::kPaused; }

void VcpuSet::stop() {
  {
    std::lock_guard lock(mu_);
    state_ = State::kStopping;
    kick_all();
    cv_.notify_all();
  }
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  handles_.clear();
}

void VcpuSet::thread_main(size_t index) {
  const kvm::Vcpu& vcpu = vcpus_[index];
  char name[16];
  std::snprintf(name, sizeof name, "vcpu%zu", index);
  pthread_setname_np(pthread_self(), name);
  seccomp::enter(seccomp::ThreadKind::kVcpu);
  kvm_run* run = vcpu.run_state();
  unsigned memory_faults = 0;  // in a row, without an exit in between
  while (true) {
    State s = state_.load();
    if (s == State::kStopping) break;
    if (s == State::kPaused) {
      std::unique_lock lock(mu_);
      ++parked_;
      cv_.notify_all();
      cv_.wait(lock, [&] { return state_ != State::kPaused; });
      --parked_;
      continue;
    }
    auto r = vcpu.run();
    run->immediate_exit = 0;
    if (!r) {
      exit_.request(exit_status::kFailure, r.message() + "\n" + dump_registers(vcpu));
      break;
    }
    if (*r == kvm::Vcpu::Run::kInterrupted) continue;  // a kick
    if (*r == kvm::Vcpu::Run::kMemoryFault) {
      exits_[index]->add(kMemoryFault);
      if (!recover_memory_fault(vcpu, memory_faults)) break;
      continue;
    }
    memory_faults = 0;
    if (!handle_exit(vcpu, *exits_[index])) break;
  }
  std::lock_guard lock(mu_);
  ++exited_;
  cv_.notify_all();
}

// KVM_RUN failed with EFAULT: memory behind a memslot is gone. The repair hook (a device that maps
// memory another process can take away puts zero pages in its place) may fix it; the vCPU then
// runs again. With nothing repaired, or faults in a row that repairs do not end, the VM ends.
bool VcpuSet::recover_memory_fault(const kvm::Vcpu& vcpu, unsigned& in_a_row) {
  constexpr unsigned kMaxInARow = 8;
  bool repaired = memory_fault_repair_ && memory_fault_repair_();
  if (repaired && ++in_a_row <= kMaxInARow) return true;
  exit_.request(exit_status::kFailure,
                "KVM_RUN on vCPU " + std::to_string(vcpu.id()) + ": Bad address (EFAULT): memory behind a memory slot is gone" +
                    (repaired ? " again after " + std::to_string(kMaxInARow) + " repairs" : " and nothing could repair it") +
                    "\n" + dump_registers(vcpu));
  return false;
}

std::vector<std::vector<std::pair<std::string, uint64_t>>> VcpuSet::exit_counts() const {
  std::vector<std::vector<std::pair<std::string, uint64_t>>> out;
  for (const auto& c : exits_) out.push_back(c->snapshot());
  return out;
}

bool VcpuSet::handle_exit(const kvm::Vcpu& vcpu, Counters& exits) {
  kvm_run* run = vcpu.run_state();
  exits.add(exit_counter(run->exit_reason));
  switch (run->exit_reason) {
    case KVM_EXIT_IO: {
      auto* base = reinterpret_cast<uint8_t*>(run) + run->io.data_offset;
      for (uint32_t i = 0; i < run->io.count; ++i) {
        std::span<uint8_t> data(base + static_cast<size_t>(i) * run->io.size, run->io.size);
        if (run->io.direction == KVM_EXIT_IO_OUT) {
          pio_.write(run->io.port, data);
        } else {
          pio_.read(run->io.port, data);
        }
      }
      return true;
    }
    case KVM_EXIT_MMIO: {
      uint32_t len = std::min<uint32_t>(run->mmio.len, sizeof(run->mmio.data));
      std::span<uint8_t> data(run->mmio.data, len);
      if (run->mmio.is_write) {
        mmio_.write(run->mmio.phys_addr, data);
      } else {
        mmio_.read(run->mmio.phys_addr, data);
      }
      return true;
    }
    case KVM_EXIT_HLT:
    case KVM_EXIT_IRQ_WINDOW_OPEN:
    case KVM_EXIT_INTR:
      return true;
    case KVM_EXIT_SHUTDOWN:
      exit_.request(exit_status::kFailure,
                    "vCPU " + std::to_string(vcpu.id()) + " shut down (triple fault)\n" + dump_registers(vcpu));
      return false;
    case KVM_EXIT_SYSTEM_EVENT:
      if (run->system_event.type == KVM_SYSTEM_EVENT_RESET) {
        exit_.request(exit_status::kReboot, "guest reset");
      } else if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN) {
        exit_.request(exit_status::kPowerOff, "guest powered off");
      } else {
        exit_.request(exit_status::kFailure, "guest crashed (system event " + std::to_string(run->system_event.type) + ")");
      }
      return false;
    case KVM_EXIT_INTERNAL_ERROR:
      exit_.request(exit_status::kFailure, "KVM internal error (suberror " + std::to_string(run->internal.suberror) +
                                               ") on vCPU " + std::to_string(vcpu.id()) + "\n" + dump_registers(vcpu));
      return false;
    case KVM_EXIT_FAIL_ENTRY: {
      char buf[96];
      std::snprintf(buf, sizeof buf, "KVM entry failed (reason 0x%" PRIx64 ") on vCPU %u\n",
                    static_cast<uint64_t>(run->fail_entry.hardware_entry_failure_reason), vcpu.id());
      exit_.request(exit_status::kFailure, buf + dump_registers(vcpu));
      return false;
    }
    default:
      exit_.request(exit_status::kFailure, "unexpected KVM exit reason " + std::to_string(run->exit_reason) + " on vCPU " +
                                               std::to_string(vcpu.id()) + "\n" + dump_registers(vcpu));
      return false;
  }
}

std::string VcpuSet::dump_registers(const kvm::Vcpu& vcpu) const { return dump_(vcpu); }

}  // namespace tandem
