package server

import (
	"os"
	"runtime"
	"runtime/debug"
)

// Runtime tuning for "scimd serve". The live heap of a SCIM server is small
// (requests are short, SQLite keeps its own page cache), while rendering a
// 200-user page allocates a lot: collecting garbage at 400% instead of 100%
// growth is what lets a full directory listing run at over 100,000 users/s
// on two cores. The soft memory limit makes the collector work harder
// before the process would outgrow a small VPS.
const (
	GCPercent   = 400
	MemoryLimit = 128 << 20
)

// Procs is GOMAXPROCS for "scimd serve" where the runtime's default (the
// CPUs it may use) is cpus: one more.
//
// Every durable write waits for the one writer goroutine, which spends
// most of its time in fsync. While it is in that system call the runtime
// gives its processor to other goroutines; with no processor free when
// fsync returns, the writer queues behind whatever is runnable, and every
// write in flight waits with it. A webhook's deliverer adds many short
// runnable goroutines, and on two CPUs that queueing was over a third of
// what a webhook cost in create throughput. With one processor more than
// CPUs, a goroutine returning from a system call finds one free and the
// kernel shares the cores, favouring the thread that just woke. Measured
// with bench/run on two CPUs (README, "Features that cost"): a webhook's
// cost went from 20.7 % of the create share to 13.1 %, and without one
// neither creates nor lookups dropped.
func Procs(cpus int) int { return cpus + 1 }

// TuneRuntime applies GCPercent, MemoryLimit and Procs unless the
// environment sets GOGC, GOMEMLIMIT or GOMAXPROCS. Calling it again
// changes nothing.
func TuneRuntime() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(MemoryLimit)
	}
	if os.Getenv("GOMAXPROCS") == "" {
		// From the default each time, not from the current value, so a
		// second call does not add another. (Setting it stops the
		// runtime from following a changed CPU limit of the cgroup; a
		// restart picks one up.)
		runtime.SetDefaultGOMAXPROCS()
		runtime.GOMAXPROCS(Procs(runtime.GOMAXPROCS(0)))
	}
}
