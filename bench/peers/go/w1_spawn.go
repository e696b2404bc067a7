// W1 in Go (run with GOMAXPROCS=1): 1,000,000 goroutines that each return
// their index, awaited in batches of 10,000 (a WaitGroup per batch, results
// in a slice: Go's gather). Same RESULT line as bench/w1_spawn.c.
package main

import (
	"fmt"
	"os"
	"sync"
	"time"
)

const batch = 10000

func main() {
	n := 1000000
	for _, a := range os.Args[1:] {
		if a == "-q" {
			n /= 10
		}
	}
	res := make([]int, batch)
	sum := 0
	t0 := time.Now()
	for done := 0; done < n; done += batch {
		var wg sync.WaitGroup
		wg.Add(batch)
		base := done
		for i := 0; i < batch; i++ {
			go func(i int) {
				res[i] = base + i
				wg.Done()
			}(i)
		}
		wg.Wait()
		for _, r := range res {
			sum += r
		}
	}
	dt := time.Since(t0).Seconds()
	if sum != n*(n-1)/2 {
		fmt.Fprintln(os.Stderr, "W1 go: wrong result")
		os.Exit(2)
	}
	fmt.Printf("RESULT W1 go %.6g tasks/s\n", float64(n)/dt)
}
