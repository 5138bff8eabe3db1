package purgatory

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The comparison: 1M pending operations with random timeouts of 1-60 s, the purgatory's common life
// cycle being insert then cancel (completed before the timeout), the rest expiring. Run with -benchtime=1x:
//
//	go test -run x -bench . -benchtime=1x ./broker/purgatory/
const benchTasks = 1_000_000

func benchDelays() []time.Duration {
	rng := rand.New(rand.NewPCG(42, 42))
	d := make([]time.Duration, benchTasks)
	for i := range d {
		d[i] = time.Second + time.Duration(rng.Int64N(int64(59*time.Second)))
	}
	return d
}

// phase measures f in wall time and in process CPU time: the machine is shared, and CPU time is what a
// loaded machine does not inflate. It reports both per op, as ns/<name> and cpu-ns/<name>.
func phase(b *testing.B, name string, ops int, f func()) {
	cpu0, start := cpuTime(), time.Now()
	f()
	wall, cpu := time.Since(start), cpuTime()-cpu0
	b.ReportMetric(float64(wall.Nanoseconds())/float64(ops), "ns/"+name)
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(ops), "cpu-ns/"+name)
}

func heapAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkTimerInsertExpire: insert 1M tasks, cancel every other one, then expire the rest by driving a
// ManualClock in 1 ms steps to 61 s (the driver's path, minus the sleeping).
func BenchmarkTimerInsertExpire(b *testing.B) {
	b.ReportAllocs()
	delays := benchDelays()
	var fired atomic.Int64
	fn := func() { fired.Add(1) }
	for range b.N {
		clk := NewManualClock(0)
		tm, err := NewTimer(TimerConfig{Clock: clk})
		if err != nil {
			b.Fatal(err)
		}
		tasks := make([]*Task, benchTasks)
		before := heapAlloc()

		phase(b, "insert", benchTasks, func() {
			for i, d := range delays {
				tasks[i] = tm.AfterFunc(d, fn)
			}
		})
		b.ReportMetric(float64(heapAlloc()-before)/benchTasks, "heapB/pending")
		phase(b, "cancel", benchTasks/2, func() {
			for i := 0; i < benchTasks; i += 2 {
				tasks[i].Cancel()
			}
		})
		fired.Store(0)
		phase(b, "expire", benchTasks/2, func() {
			for clk.Now() < 61*time.Second {
				clk.Advance(time.Millisecond)
				tm.AdvanceClock()
			}
		})
		if fired.Load() != benchTasks/2 {
			b.Fatalf("fired %d, want %d", fired.Load(), benchTasks/2)
		}
	}
}

// BenchmarkAfterFuncInsertExpire: the same inserts and cancels with the runtime's timers (time.AfterFunc and
// Stop). Runtime timers cannot be fast-forwarded, so expiry is compared in the Realtime benchmarks below.
func BenchmarkAfterFuncInsertExpire(b *testing.B) {
	b.ReportAllocs()
	delays := benchDelays()
	fn := func() {}
	for range b.N {
		timers := make([]*time.Timer, benchTasks)
		before := heapAlloc()

		phase(b, "insert", benchTasks, func() {
			for i, d := range delays {
				timers[i] = time.AfterFunc(d, fn)
			}
		})
		b.ReportMetric(float64(heapAlloc()-before)/benchTasks, "heapB/pending")
		phase(b, "cancel", benchTasks/2, func() {
			for i := 0; i < benchTasks; i += 2 {
				timers[i].Stop()
			}
		})
		for i := 1; i < benchTasks; i += 2 {
			timers[i].Stop()
		}
	}
}

// cpuTime is the process's user+system CPU time: expiry cost on real clocks includes sleeping drivers, the
// runtime's timer heap and the callbacks' goroutines, which wall time alone would hide.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// realtimeTasks is smaller than benchTasks because these runs cost real time and CPU (time.AfterFunc spends
// several microseconds of CPU per expiry, a goroutine each) and the machine is shared; expiry cost per task
// depends little on the number pending (log n for the runtime heap, nothing for the wheel).
const realtimeTasks = 250_000

// realtimeDelays spreads the expirations over 0.5-1.5 s of real time.
func realtimeDelays() []time.Duration {
	rng := rand.New(rand.NewPCG(43, 43))
	d := make([]time.Duration, realtimeTasks)
	for i := range d {
		d[i] = 500*time.Millisecond + time.Duration(rng.Int64N(int64(time.Second)))
	}
	return d
}

func reportRealtime(b *testing.B, fired *atomic.Int64, cpu0 time.Duration, start time.Time) {
	deadline := time.Now().Add(30 * time.Second)
	for fired.Load() < realtimeTasks {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d fired", fired.Load(), realtimeTasks)
		}
		time.Sleep(time.Millisecond) // polling interval
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds()), "wall-ms")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/realtimeTasks, "cpu-ns/task")
}

// BenchmarkTimerExpireRealtime: 250k tasks inserted and all expired by the started timer on the system clock;
// cpu-ns/task is the process's CPU time (insert + expire + callback) per task.
func BenchmarkTimerExpireRealtime(b *testing.B) {
	b.ReportAllocs()
	delays := realtimeDelays()
	for range b.N {
		var fired atomic.Int64
		fn := func() { fired.Add(1) }
		tm, err := NewTimer(TimerConfig{})
		if err != nil {
			b.Fatal(err)
		}
		tm.Start(context.Background())
		cpu0, start := cpuTime(), time.Now()
		for _, d := range delays {
			tm.AfterFunc(d, fn)
		}
		reportRealtime(b, &fired, cpu0, start)
		tm.Stop()
	}
}

// BenchmarkAfterFuncExpireRealtime: the same with time.AfterFunc (one goroutine per callback).
func BenchmarkAfterFuncExpireRealtime(b *testing.B) {
	b.ReportAllocs()
	delays := realtimeDelays()
	for range b.N {
		var fired atomic.Int64
		fn := func() { fired.Add(1) }
		cpu0, start := cpuTime(), time.Now()
		for _, d := range delays {
			time.AfterFunc(d, fn)
		}
		reportRealtime(b, &fired, cpu0, start)
	}
}

// BenchmarkPurgatoryWatchComplete: one delayed operation's life on a busy purgatory: watched under a key,
// then completed by CheckAndComplete (the acks=-1 produce path), from parallel goroutines over 1024 keys.
func BenchmarkPurgatoryWatchComplete(b *testing.B) {
	p, err := New[int](Config{Name: "bench"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	p.Start(context.Background())
	defer p.Shutdown()
	b.ReportAllocs()
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k := int(next.Add(1) % 1024)
			op := &benchOp{}
			p.TryCompleteElseWatch(NewDelayedOperation(op, 30*time.Second), []int{k})
			op.ready.Store(true)
			p.CheckAndComplete(k)
		}
	})
}

type benchOp struct{ ready atomic.Bool }

func (o *benchOp) TryComplete() bool { return o.ready.Load() }
func (o *benchOp) OnComplete()       {}
func (o *benchOp) OnExpiration()     {}
