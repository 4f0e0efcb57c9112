// vmm/vcpu_set.h: one thread per vCPU, their exit dispatch, and pause/resume/stop of all of them.
//
// Each thread loops on KVM_RUN and hands port I/O and MMIO exits to the buses. Pausing sets a flag,
// arms kvm_run.immediate_exit and signals the thread, so a vCPU inside or about to enter KVM_RUN
// comes out promptly; pause() returns once every vCPU is parked. Fatal exits (triple fault, KVM
// internal error, failed entry) dump the vCPU's registers to stderr and end the VMM with status 1.
#pragma once

#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "devices/bus.h"
#include "devices/counters.h"
#include "vmm/exit_controller.h"
#include "vmm/kvm/kvm.h"

namespace tandem {

class VcpuSet {
 public:
  // A vCPU's registers, formatted for a failure message (the architecture's: arch::describe_registers).
  using RegisterDump = std::function<std::string(const kvm::Vcpu&)>;

  VcpuSet(std::vector<kvm::Vcpu> vcpus, const Bus& pio, const Bus& mmio, ExitController& exit, RegisterDump dump);
  ~VcpuSet();
  VcpuSet(const VcpuSet&) = delete;
  VcpuSet& operator=(const VcpuSet&) = delete;

  // Called (from the faulting vCPU's thread) when KVM_RUN fails with EFAULT; true when it put
  // memory back, and the vCPU runs again. Set before start().
  void on_memory_fault(std::function<bool()> repair) { memory_fault_repair_ = std::move(repair); }

  void start();
  // Blocks until every vCPU is out of KVM_RUN and parked.
  void pause();
  void resume();
  // Stops and joins every vCPU thread (idempotent).
  void stop();
  bool paused() const;
  size_t size() const { return vcpus_.size(); }

  // Per vCPU: its exits to tandem so far, by reason (vm.counters). Exits KVM handles itself (an
  // ioeventfd's doorbell, most interrupts) never reach tandem and are not among them.
  std::vector<std::vector<std::pair<std::string, uint64_t>>> exit_counts() const;

  // Human-readable register dump of one vCPU (for fatal exits).
  std::string dump_registers(const kvm::Vcpu& vcpu) const;

 private:
  enum class State { kRunning, kPaused, kStopping };
  void thread_main(size_t index);
  void kick_all();
  bool handle_exit(const kvm::Vcpu& vcpu, Counters& exits);
  bool recover_memory_fault(const kvm::Vcpu& vcpu, unsigned& in_a_row);

  std::vector<kvm::Vcpu> vcpus_;
  std::vector<std::thread> threads_;
  std::vector<pthread_t> handles_;
  const Bus& pio_;
  const Bus& mmio_;
  ExitController& exit_;
  const RegisterDump dump_;
  std::function<bool()> memory_fault_repair_;
  std::vector<std::unique_ptr<Counters>> exits_;  // one per vCPU, by reason (vcpu_set.cc, exit_counter)

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<State> state_{State::kRunning};
  size_t parked_ = 0;
  size_t exited_ = 0;  // threads that left their loop (they never park)
  bool started_ = false;
};

}  // namespace tandem
