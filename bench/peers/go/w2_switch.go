// W2 in Go (run with GOMAXPROCS=1): two goroutines each yield 1,000,000
// times, interleaving. runtime.Gosched does not give strict turns (measured
// here: ~6% of the yields came back to the same goroutine), so each yield
// hands the turn to the other goroutine over an unbuffered channel, Go's way
// to make two goroutines take turns; the turns are checked like cio's.
// Same RESULT line as bench/w2_switch.c.
package main

import (
	"fmt"
	"os"
	"time"
)

func main() {
	n := 1000000
	for _, a := range os.Args[1:] {
		if a == "-q" {
			n /= 10
		}
	}
	last, errors := -1, 0
	turn := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	done := make(chan struct{})
	yielder := func(id int) {
		for i := 0; i < n; i++ {
			<-turn[id]
			if i > 0 && last == id {
				errors++
			}
			last = id
			if id == 1 && i == n-1 {
				break /* the last yield of all: nobody waits for the turn */
			}
			turn[1-id] <- struct{}{}
		}
		done <- struct{}{}
	}
	t0 := time.Now()
	go yielder(0)
	go yielder(1)
	turn[0] <- struct{}{}
	<-done
	<-done
	dt := time.Since(t0).Seconds()
	if errors != 0 {
		fmt.Fprintf(os.Stderr, "W2 go: the goroutines did not alternate (%d times)\n", errors)
		os.Exit(2)
	}
	fmt.Printf("RESULT W2 go %.6g yields/s\n", 2*float64(n)/dt)
}
