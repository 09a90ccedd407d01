// The fork-join team every threaded kernel runs on (native/team.cc): the calling thread and up to threads() - 1
// workers of its own. Between jobs a worker waits for the next one by spinning (pause, then sched_yield) for a bounded
// time before it sleeps; waits inside a job (a barrier, the caller waiting for the workers) do the same. OpenMP's
// passive wait policy (llmforge's setting for it) puts its threads to sleep at once, and waking a sleeping thread costs
// tens of microseconds, on a virtual machine up to a hundred: a 256³ product took as long on two threads as on one.
// Its active policy spins with pause alone, which collapses when another process holds a core. A worker that is
// still spinning starts at once; one that yields hands its core to whatever else is runnable there; one that sleeps
// after the bound leaves its core idle, so the scheduler can move a partner stuck behind another process there.
//
// Declarations only, no standard headers: the ISA files include this after their `#pragma GCC target`, and inline
// code compiled there could be picked by the linker for the whole addon.
#pragma once

namespace llmf {

using TeamFn = void (*)(void* ctx, int tid, int n);

// Runs fn(ctx, tid, n) for tid in [0, n) on the calling thread's team, the caller as tid 0; returns when all have
// finished. n comes out lower when a worker thread cannot be started (fn sees the count it got). From inside an
// OpenMP region or another team's job it runs on the caller alone.
void teamRun(int n, TeamFn fn, void* ctx);

// A barrier for the n threads of one job (one per job, on the caller's stack).
struct TeamBarrier {
  int count = 0;
  unsigned gen = 0;
  int sleepers = 0;
  void wait(int n);
};

template <class F>
void teamParallel(int n, F& body) {
  teamRun(n, [](void* ctx, int tid, int nt) { (*static_cast<F*>(ctx))(tid, nt); }, static_cast<void*>(&body));
}

}  // namespace llmf
