// The kernels' fork-join team (team.h): per calling thread, workers started on first use, each with its own job slot,
// so a job wakes only the workers it uses.
#include "team.h"
#include <immintrin.h>
#include <omp.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <climits>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace llmf {

namespace {

long readSpinUs() {
  if (const char* s = std::getenv("LLMFORGE_SPIN_US")) {
    char* end = nullptr;
    const long v = std::strtol(s, &end, 10);
    if (end != s && v >= 0) return v;
  }
  const char* wait = std::getenv("OMP_WAIT_POLICY");
  if (wait && (std::string(wait) == "active" || std::string(wait) == "ACTIVE")) return 10000;
  return 100;
}

const long g_spinUs = readSpinUs();
thread_local bool t_inJob = false;  // a team worker, or the caller while it runs a job

void futexWait(unsigned* word, unsigned old) { syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, old, nullptr, nullptr, 0); }
void futexWakeAll(unsigned* word) { syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0); }

// Waits until *word != old: a few pauses, then sched_yield (so a thread the host preempted on this core gets it back)
// for up to spinUs, then asleep on the word (counted in *sleepers, so that changers know to wake it).
void waitChange(unsigned* word, unsigned old, int* sleepers, long spinUs) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto spin = std::chrono::microseconds(spinUs);
  for (int i = 0; __atomic_load_n(word, __ATOMIC_ACQUIRE) == old; ++i) {
    if (i < 64) {
      _mm_pause();
      continue;
    }
    if ((i & 15) == 0 && std::chrono::steady_clock::now() - t0 >= spin) {
      // seq_cst against change(): either it sees this sleeper and wakes the word, or this sees its new value
      __atomic_add_fetch(sleepers, 1, __ATOMIC_SEQ_CST);
      while (__atomic_load_n(word, __ATOMIC_SEQ_CST) == old) futexWait(word, old);
      __atomic_sub_fetch(sleepers, 1, __ATOMIC_SEQ_CST);
      return;
    }
    sched_yield();
  }
}

// Adds delta to *word and wakes its sleepers, if any.
void change(unsigned* word, unsigned delta, int* sleepers) {
  __atomic_add_fetch(word, delta, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(sleepers, __ATOMIC_SEQ_CST) > 0) futexWakeAll(word);
}

struct alignas(64) Worker {
  unsigned gen = 0;  // bumped for each job (and at shutdown)
  int sleepers = 0;
  bool stop = false;
  TeamFn fn = nullptr;
  void* ctx = nullptr;
  int tid = 0, n = 0;
  unsigned* done = nullptr;
  int* doneSleepers = nullptr;
  std::thread th;
};

void workerLoop(Worker* w) {
  t_inJob = true;
  unsigned seen = 0;
  for (;;) {
    waitChange(&w->gen, seen, &w->sleepers, g_spinUs);
    seen = __atomic_load_n(&w->gen, __ATOMIC_ACQUIRE);
    if (__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) return;
    w->fn(w->ctx, w->tid, w->n);
    change(w->done, 1, w->doneSleepers);
  }
}

class Team {
 public:
  void run(int n, TeamFn fn, void* ctx) {
    while ((int)workers_.size() < n - 1 && start()) {
    }
    if (n - 1 > (int)workers_.size()) n = (int)workers_.size() + 1;
    const unsigned done0 = __atomic_load_n(&done_, __ATOMIC_RELAXED);
    for (int t = 1; t < n; ++t) {
      Worker* w = workers_[t - 1].get();
      w->fn = fn;
      w->ctx = ctx;
      w->tid = t;
      w->n = n;
      change(&w->gen, 1, &w->sleepers);
    }
    t_inJob = true;
    std::exception_ptr err;
    try {
      fn(ctx, 0, n);
    } catch (...) {
      err = std::current_exception();  // rethrown once the workers are done with ctx
    }
    t_inJob = false;
    for (unsigned d; (d = __atomic_load_n(&done_, __ATOMIC_ACQUIRE)) != done0 + (unsigned)(n - 1);) waitChange(&done_, d, &doneSleepers_, g_spinUs);
    if (err) std::rethrow_exception(err);
  }

  ~Team() {
    for (auto& w : workers_) {
      __atomic_store_n(&w->stop, true, __ATOMIC_RELEASE);
      change(&w->gen, 1, &w->sleepers);
      if (w->th.joinable()) w->th.join();
    }
  }

 private:
  bool start() {
    auto w = std::make_unique<Worker>();
    w->done = &done_;
    w->doneSleepers = &doneSleepers_;
    try {
      w->th = std::thread(workerLoop, w.get());
    } catch (const std::system_error&) {
      return false;
    }
    workers_.push_back(std::move(w));
    return true;
  }

  std::vector<std::unique_ptr<Worker>> workers_;
  unsigned done_ = 0;  // jobs' parts finished by workers, ever (wraps)
  int doneSleepers_ = 0;
};

}  // namespace

void teamRun(int n, TeamFn fn, void* ctx) {
  if (n <= 1 || t_inJob || omp_in_parallel()) {
    fn(ctx, 0, 1);
    return;
  }
  static thread_local Team team;
  team.run(n, fn, ctx);
}

void TeamBarrier::wait(int n) {
  const unsigned g = __atomic_load_n(&gen, __ATOMIC_ACQUIRE);
  if (__atomic_add_fetch(&count, 1, __ATOMIC_ACQ_REL) == n) {
    __atomic_store_n(&count, 0, __ATOMIC_RELAXED);
    change(&gen, 1, &sleepers);
    return;
  }
  waitChange(&gen, g, &sleepers, g_spinUs);
}

}  // namespace llmf
