// Command nullhandler is the yardstick of bench/run: the least a Go
// net/http server can do for the two requests the benchmark sends. GET
// answers an empty SCIM ListResponse (what scimd answers a lookup that
// finds nobody, without looking); POST reads the body and answers 201 with
// a small User. Its rate is what this machine, this Go and this wrk can do
// at all, so scimd's rate divided by it is comparable between days and
// machines where absolute rates are not.
//
//	nullhandler -listen 127.0.0.1:18081
package main

import (
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"time"
)

var (
	listBody    = []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"startIndex":1,"itemsPerPage":0,"Resources":[]}` + "\n")
	createdBody = []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"00000000-0000-4000-8000-000000000000","meta":{"resourceType":"User","version":"W/\"1\""}}` + "\n")
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18081", "address to listen on")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %s", ln.Addr())
	srv := &http.Server{Handler: http.HandlerFunc(serve), ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.Serve(ln))
}

// serve answers like scimd would, with the same headers and media type, but
// does no work in between.
func serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/scim+json")
	if r.Method == http.MethodPost {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.Set("Content-Length", strconv.Itoa(len(createdBody)))
		w.WriteHeader(http.StatusCreated)
		w.Write(createdBody)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(listBody)))
	w.Write(listBody)
}
