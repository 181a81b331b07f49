package testenv

import (
	"runtime"
	"sync"
	"time"
)

// PeakHeap runs f while sampling the heap in use every millisecond, and returns the highest
// sample above the heap in use (after a collection) before f: how much memory f held at
// its worst. The memory tests state their bounds in it.
func PeakHeap(f func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapInuse, ms.HeapInuse
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	})
	f()
	close(stop)
	wg.Wait()
	return peak - base
}
