// echo: the Go server of weft's echo benchmark (bench/echo.c is the load
// client and runs it; only the server differs between runtimes).
//
//	GOMAXPROCS=P echo
//
// Listens on 127.0.0.1 (a free port), prints the port as a decimal line on
// stdout, then echoes every connection until the peer closes: a goroutine
// per connection, Read into a 4 KiB buffer, Write what was read (net's
// netpoller: an epoll loop, sockets registered once edge-triggered; Go sets
// TCP_NODELAY on accepted connections by default).  Runs until killed.
package main

import (
	"fmt"
	"net"
	"os"
)

func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
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

func main() {
	if len(os.Args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: GOMAXPROCS=P echo")
		os.Exit(2)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
	fmt.Println(l.Addr().(*net.TCPAddr).Port)
	for {
		c, err := l.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "echo: accept:", err)
			continue
		}
		go serve(c)
	}
}
