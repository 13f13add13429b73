// Command hookreceiver is the webhook receiver of the server benchmarks
// (webhook_bench_test.go). It runs in a process of its own, as a real
// receiver runs on a machine of its own, so that its CPU (HTTP server,
// signature check) is not counted against scimd.
//
// It listens on 127.0.0.1:0, prints its address on the first line of
// stdout, checks each delivery's Standard Webhooks signature, answers 204
// after -delay, and answers GET /count with "DISTINCT LASTNANOS": how many
// distinct webhook-ids arrived and when the latest new one did.
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

func main() {
	delay := flag.Duration("delay", time.Millisecond, "how long each answer takes")
	secret := flag.String("secret", "", "the endpoint's whsec_ secret")
	flag.Parse()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(*secret, "whsec_"))
	if err != nil || len(key) == 0 {
		log.Fatal("hookreceiver: -secret must be a whsec_ secret")
	}
	var (
		mu   sync.Mutex
		seen = map[string]bool{}
		last int64
		bad  int
	)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			mu.Lock()
			fmt.Fprintf(w, "%d %d %d\n", len(seen), last, bad)
			mu.Unlock()
			return
		}
		body, _ := io.ReadAll(r.Body)
		id := r.Header.Get("webhook-id")
		m := hmac.New(sha256.New, key)
		fmt.Fprintf(m, "%s.%s.", id, r.Header.Get("webhook-timestamp"))
		m.Write(body)
		want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
		ok := false
		for _, s := range strings.Fields(r.Header.Get("webhook-signature")) {
			ok = ok || hmac.Equal([]byte(s), []byte(want))
		}
		time.Sleep(*delay)
		mu.Lock()
		if !ok {
			bad++
		} else if !seen[id] {
			seen[id] = true
			last = time.Now().UnixNano()
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintln(os.Stdout, "http://"+ln.Addr().String())
	log.Fatal(http.Serve(ln, h))
}
