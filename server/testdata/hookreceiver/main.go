// Command hookreceiver is the webhook receiver of the server benchmarks
// (webhook_bench_test.go). It runs in a process of its own, as a real
// receiver runs on a machine of its own, so that its CPU (HTTP server,
// signature check) is not counted against scimd.
//
// On the benchmark machine it still shares the CPUs with scimd, so it
// speaks just enough HTTP/1.1 for its clients (requests with a
// Content-Length, keep-alive) over plain sockets: net/http's server cost
// about 90 µs of CPU per delivery, a fifth of what a durable create costs
// scimd, and that was measured against scimd although a real receiver
// spends it on its own machine. It checks every signature all the same.
//
// It listens on 127.0.0.1:0, prints its address on the first line of
// stdout, checks each delivery's Standard Webhooks signature, answers 204
// after -delay, and answers GET with "DISTINCT LASTNANOS BAD": how many
// distinct webhook-ids arrived with a valid signature, when the latest new
// one did, and how many deliveries carried a bad signature.
package main

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"flag"
	"fmt"
	"hash"
	"io"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

type receiver struct {
	key   []byte
	delay time.Duration

	mu   sync.Mutex
	seen map[string]bool
	last int64
	bad  int
}

func main() {
	delay := flag.Duration("delay", time.Millisecond, "how long each answer takes")
	secret := flag.String("secret", "", "the endpoint's whsec_ secret")
	flag.Parse()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(*secret, "whsec_"))
	if err != nil || len(key) == 0 {
		log.Fatal("hookreceiver: -secret must be a whsec_ secret")
	}
	rx := &receiver{key: key, delay: *delay, seen: map[string]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintln(os.Stdout, "http://"+ln.Addr().String())
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go rx.serve(c)
	}
}

// serve answers the requests of one connection in turn until the client
// closes it or sends something this receiver does not speak.
func (rx *receiver) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 16<<10)
	mac := hmac.New(sha256.New, rx.key)
	var body []byte
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		get := bytes.HasPrefix(line, []byte("GET "))
		var (
			n                   = -1
			id, ts, sigs        string
			closeAfter, chunked bool
		)
		for {
			h, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			h = bytes.TrimRight(h, "\r\n")
			if len(h) == 0 {
				break
			}
			name, value, ok := bytes.Cut(h, []byte(":"))
			if !ok {
				return
			}
			v := string(bytes.TrimSpace(value))
			switch strings.ToLower(string(name)) {
			case "content-length":
				n, _ = strconv.Atoi(v)
			case "transfer-encoding":
				chunked = true
			case "connection":
				closeAfter = strings.EqualFold(v, "close")
			case "webhook-id":
				id = v
			case "webhook-timestamp":
				ts = v
			case "webhook-signature":
				sigs = v
			}
		}
		if chunked {
			io.WriteString(c, "HTTP/1.1 411 Length Required\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
			return
		}
		if get {
			rx.mu.Lock()
			text := fmt.Sprintf("%d %d %d\n", len(rx.seen), rx.last, rx.bad)
			rx.mu.Unlock()
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(text), text)
		} else {
			if n < 0 {
				io.WriteString(c, "HTTP/1.1 411 Length Required\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
				return
			}
			if cap(body) < n {
				body = make([]byte, n)
			}
			body = body[:n]
			if _, err := io.ReadFull(br, body); err != nil {
				return
			}
			ok := rx.verify(mac, id, ts, sigs, body)
			time.Sleep(rx.delay)
			rx.mu.Lock()
			if !ok {
				rx.bad++
			} else if !rx.seen[id] {
				rx.seen[id] = true
				rx.last = time.Now().UnixNano()
			}
			rx.mu.Unlock()
			if _, err := io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n"); err != nil {
				return
			}
		}
		if closeAfter {
			return
		}
	}
}

// verify checks a Standard Webhooks signature: v1, and the base64
// HMAC-SHA256 of "id.timestamp.body".
func (rx *receiver) verify(mac hash.Hash, id, ts, sigs string, body []byte) bool {
	mac.Reset()
	io.WriteString(mac, id)
	io.WriteString(mac, ".")
	io.WriteString(mac, ts)
	io.WriteString(mac, ".")
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, s := range strings.Fields(sigs) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return true
		}
	}
	return false
}
