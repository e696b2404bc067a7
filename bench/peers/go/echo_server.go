// The Go echo server of W9 and W11 (run with GOMAXPROCS=1): one goroutine
// per connection doing io.Copy(conn, conn), Go's echo idiom (TCP_NODELAY is
// Go's default). Prints its port on stdout, then serves until killed;
// bench/w9_echo and bench/w11_idle measure it with the same client as every
// other server.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
)

func main() {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil {
		rl.Cur = rl.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(2)
	}
	fmt.Println(l.Addr().(*net.TCPAddr).Port)
	for {
		c, err := l.Accept()
		if err != nil {
			continue
		}
		go func(c net.Conn) {
			io.Copy(c, c)
			c.Close()
		}(c)
	}
}
