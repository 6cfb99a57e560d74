// Package httpload is a lean HTTP/1.1 client for search load: keep-alive
// connections that write pre-encoded requests whole and read responses by
// their Content-Length, with one request in flight per connection or
// several (pipelining). It is what a low-latency client of the Casper
// search does (the request bytes of a query are built once, a response is
// a status, a length and a body), with none of a general client's header
// maps, pools or per-request allocation.
//
// It speaks only what an lsmvec server answers: HTTP/1.1 responses with a
// Content-Length. A chunked or length-less response is an error.
package httpload

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// ErrProtocol reports a response this client cannot read.
var ErrProtocol = errors.New("httpload: unsupported or malformed response")

// maxHead bounds a response's status line and headers.
const maxHead = 16 << 10

// AppendRequest appends an HTTP/1.1 request to dst: method, the request
// target uri (path and query), the Host header, and, when body is not nil,
// Content-Type and Content-Length headers and the body.
func AppendRequest(dst []byte, method, host, uri, contentType string, body []byte) []byte {
	dst = append(dst, method...)
	dst = append(dst, ' ')
	dst = append(dst, uri...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, host...)
	dst = append(dst, "\r\n"...)
	if body != nil {
		if contentType != "" {
			dst = append(dst, "Content-Type: "...)
			dst = append(dst, contentType...)
			dst = append(dst, "\r\n"...)
		}
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, int64(len(body)), 10)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	return append(dst, body...)
}

// Conn is one keep-alive connection. It is not safe for concurrent use.
type Conn struct {
	c    net.Conn
	buf  []byte // received bytes: buf[off:n] are not consumed yet
	off  int
	n    int
	read time.Duration // read timeout per response; 0: none
}

// Dial connects to addr (host:port) over TCP. timeout bounds the connect
// and then every response's wait (0: no limit).
func Dial(addr string, timeout time.Duration) (*Conn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to %s: %w", addr, err)
	}
	return &Conn{c: c, buf: make([]byte, 64<<10), read: timeout}, nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }

// Send writes one pre-encoded request (AppendRequest) whole.
func (c *Conn) Send(req []byte) error {
	if _, err := c.c.Write(req); err != nil {
		return fmt.Errorf("cannot send request: %w", err)
	}
	return nil
}

// Recv reads the next response and returns its status and body. The body
// is valid until the next call to Recv or Do.
func (c *Conn) Recv() (status int, body []byte, err error) {
	if c.read > 0 {
		if err := c.c.SetReadDeadline(time.Now().Add(c.read)); err != nil {
			return 0, nil, err
		}
	}
	var head, total int // header length (through CRLF CRLF), head + body
	for {
		if head == 0 {
			if h := bytes.Index(c.buf[c.off:c.n], []byte("\r\n\r\n")); h >= 0 {
				head = h + 4
				var cl int
				if status, cl, err = parseHead(c.buf[c.off : c.off+h]); err != nil {
					return 0, nil, err
				}
				total = head + cl
			} else if c.n-c.off > maxHead {
				return 0, nil, fmt.Errorf("%w: response headers over %d bytes", ErrProtocol, maxHead)
			}
		}
		if head > 0 && c.n-c.off >= total {
			body = c.buf[c.off+head : c.off+total : c.off+total]
			c.off += total
			return status, body, nil
		}
		if err := c.fill(total); err != nil {
			return 0, nil, err
		}
	}
}

// fill reads more bytes, first making room for a response of total bytes
// (0: unknown yet).
func (c *Conn) fill(total int) error {
	if c.off == c.n {
		c.off, c.n = 0, 0
	}
	if need := max(total, maxHead); c.off+need > len(c.buf) {
		if need > len(c.buf) {
			nb := make([]byte, max(need, 2*len(c.buf)))
			c.n = copy(nb, c.buf[c.off:c.n])
			c.buf = nb
		} else {
			c.n = copy(c.buf, c.buf[c.off:c.n])
		}
		c.off = 0
	}
	m, err := c.c.Read(c.buf[c.n:])
	c.n += m
	if m > 0 {
		return nil
	}
	if err == io.EOF {
		return fmt.Errorf("cannot read response: %w", io.ErrUnexpectedEOF)
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return fmt.Errorf("cannot read response: %w", err)
}

// Do sends req and reads its response (one request in flight).
func (c *Conn) Do(req []byte) (status int, body []byte, err error) {
	if err := c.Send(req); err != nil {
		return 0, nil, err
	}
	return c.Recv()
}

// parseHead returns the status and Content-Length of a response head
// (status line and headers, without the final CRLF CRLF).
func parseHead(h []byte) (status, contentLength int, err error) {
	line, rest, _ := bytes.Cut(h, []byte("\r\n"))
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) || (len(line) > 12 && line[12] != ' ') {
		return 0, 0, fmt.Errorf("%w: status line %q", ErrProtocol, line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil || status < 100 {
		return 0, 0, fmt.Errorf("%w: status line %q", ErrProtocol, line)
	}
	contentLength = -1
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, 0, fmt.Errorf("%w: header line %q", ErrProtocol, line)
		}
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			n, err := strconv.Atoi(string(bytes.TrimSpace(v)))
			if err != nil || n < 0 || (contentLength >= 0 && n != contentLength) {
				return 0, 0, fmt.Errorf("%w: Content-Length %q", ErrProtocol, v)
			}
			contentLength = n
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			return 0, 0, fmt.Errorf("%w: Transfer-Encoding %q", ErrProtocol, bytes.TrimSpace(v))
		}
	}
	if contentLength < 0 {
		return 0, 0, fmt.Errorf("%w: no Content-Length", ErrProtocol)
	}
	return status, contentLength, nil
}
