// The Go echo server of W9 and W11 (run with GOMAXPROCS=1): one goroutine
// per connection copying through an 8 KiB buffer, as Tokio's io::copy does
// (TCP_NODELAY is Go's default). Not io.Copy(conn, conn): between two TCP
// sockets that splices through a pipe per connection, two more fds each,
// and W11's 10,000 idle connections then need 30,000 (the hard limit here
// is 20,000: accept kept failing and the round stalled). Prints its port on stdout, then serves until killed;
// bench/w9_echo and bench/w11_idle measure it with the same client as every
// other server.
package main

import (
	"fmt"
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
		go echo(c)
	}
}

func echo(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 8192)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
