// http_server: the static-file part of examples/http_server.c with
// net/http (a goroutine per connection, keep-alive), for bench/http.sh.
//
//	GOMAXPROCS=P http_server DIR PORT
//
// Listens on 127.0.0.1:PORT (0: a free port), prints the port on the first
// line of stdout, then "http_server: serving DIR on http://127.0.0.1:PORT/"
// on stderr.  As the weft example: GET and HEAD only (else 405 with an
// Allow header); /PATH is the file DIR/PATH, read from disk on every
// request (the example reads it with weft_read_to_string each time); a path
// ending in '/' is its index.html; a directory without the '/' is a 301 to
// PATH/; a path with ".." or a %-escape, or a missing file, is the same 404
// page; Content-Type from the extension as the example's table.  The
// example's other routes (/redirect, /slow, /stats, /hangup) are not
// ported.  net/http adds a Date header the example does not send.  SIGINT
// or SIGTERM closes the listener and exits 0.
package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

const notFoundPage = "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>" +
	"<body><h1>Not Found</h1></body></html>\n"

func contentType(path string) string {
	switch filepath.Ext(path) {
	case ".html", ".htm":
		return "text/html; charset=utf-8"
	case ".txt":
		return "text/plain; charset=utf-8"
	case ".css":
		return "text/css"
	case ".js":
		return "text/javascript"
	}
	return "application/octet-stream"
}

// respond writes status, the headers and (unless HEAD) the body.
func respond(w http.ResponseWriter, r *http.Request, status int, ctype string, body []byte) {
	hdr := w.Header()
	hdr.Set("Content-Type", ctype)
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

type fileServer struct{ root string }

func (s fileServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		respond(w, r, http.StatusMethodNotAllowed, "text/plain", nil)
		return
	}
	path := r.URL.Path
	if !strings.HasPrefix(path, "/") || strings.Contains(path, "..") ||
		strings.Contains(r.URL.EscapedPath(), "%") {
		respond(w, r, http.StatusNotFound, "text/html; charset=utf-8", []byte(notFoundPage))
		return
	}
	full := s.root + path
	if strings.HasSuffix(path, "/") {
		full += "index.html"
	}
	data, err := os.ReadFile(full)
	if err != nil {
		if errors.Is(err, syscall.EISDIR) {
			w.Header().Set("Location", path+"/")
			respond(w, r, http.StatusMovedPermanently, "text/plain", nil)
			return
		}
		respond(w, r, http.StatusNotFound, "text/html; charset=utf-8", []byte(notFoundPage))
		return
	}
	respond(w, r, http.StatusOK, contentType(full), data)
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintf(os.Stderr, "usage: %s DIR PORT\n", os.Args[0])
		os.Exit(2)
	}
	dir := os.Args[1]
	port, err := strconv.ParseUint(os.Args[2], 10, 16)
	if err != nil {
		fmt.Fprintf(os.Stderr, "http_server: bad port '%s'\n", os.Args[2])
		os.Exit(2)
	}
	// Catch the stop signals before saying we are ready.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)

	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.FormatUint(port, 10)))
	if err != nil {
		fmt.Fprintf(os.Stderr, "http_server: listen: %v\n", err)
		os.Exit(1)
	}
	actual := ln.Addr().(*net.TCPAddr).Port
	fmt.Printf("%d\n", actual)
	fmt.Fprintf(os.Stderr, "http_server: serving %s on http://127.0.0.1:%d/\n", dir, actual)

	srv := &http.Server{Handler: fileServer{root: dir}}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case <-stop:
		srv.Close()
		fmt.Fprintln(os.Stderr, "http_server: stopped")
	case err := <-served:
		fmt.Fprintf(os.Stderr, "http_server: %v\n", err)
		os.Exit(1)
	}
}
