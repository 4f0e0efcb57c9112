// base/worker_thread.h: how a device's worker thread begins, without knowing the VMM's sandbox.
//
// The VMM sets one hook before any device starts (tandem vm: its seccomp allow-list for device
// workers), as Cloud Hypervisor's thread spawner hands each worker its filter; a device's worker
// calls begin_worker_thread(name) first thing. Devices thus never name the sandbox, and run without
// one in unit tests (no hook set).
#pragma once

namespace tandem {

using WorkerThreadHook = void (*)();

// Sets the hook every worker thread runs from then on (nullptr: none). Call before any worker starts.
void set_worker_thread_hook(WorkerThreadHook hook);

// Names the calling thread (at most 15 characters are kept) and runs the hook, if one is set.
void begin_worker_thread(const char* name);

}  // namespace tandem
