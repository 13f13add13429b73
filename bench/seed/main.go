// Command seed fills a running scimd with users the way Entra ID's first
// provisioning cycle does: one POST /Users per user, with the full body of
// bench/entra-user.json (core attributes and the enterprise extension), from
// a few concurrent connections. User i gets userName
// "bench.s<i>@contoso.example", which is what bench/lookup.lua looks up.
//
//	seed -url http://127.0.0.1:18080/scim/v2 -token scimd_... -users 20000
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:18080/scim/v2", "scimd's SCIM base URL")
	token := flag.String("token", "", "bearer token")
	users := flag.Int("users", 20000, "how many users to create")
	conc := flag.Int("c", 8, "concurrent connections")
	tmplPath := flag.String("template", "bench/entra-user.json", "the user body, with {{n}} and {{guid}}")
	flag.Parse()
	tmpl, err := os.ReadFile(*tmplPath)
	if err != nil {
		log.Fatal(err)
	}
	start := time.Now()
	if err := seed(*base+"/Users", *token, string(tmpl), *users, *conc); err != nil {
		log.Fatal(err)
	}
	d := time.Since(start)
	fmt.Printf("seeded %d users in %.1f s (%.0f/s)\n", *users, d.Seconds(), float64(*users)/d.Seconds())
}

// seed POSTs users 1..n from conc goroutines and stops at the first refusal.
func seed(url, token, tmpl string, n, conc int) error {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc}, Timeout: time.Minute}
	var next atomic.Int64
	var failed atomic.Bool
	errs := make([]error, conc)
	var wg sync.WaitGroup
	for w := range conc {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1))
				if i > n {
					return
				}
				if err := post(client, url, token, body(tmpl, i)); err != nil {
					errs[w] = fmt.Errorf("user %d: %w", i, err)
					failed.Store(true)
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// body fills the template for user i, with an externalId shaped like
// Entra's object ids (a GUID).
func body(tmpl string, i int) string {
	return strings.NewReplacer("{{n}}", "s"+strconv.Itoa(i),
		"{{guid}}", fmt.Sprintf("00000000-0000-4000-8000-%012x", i)).Replace(tmpl)
}

func post(c *http.Client, url, token, body string) error {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json; charset=utf-8")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}
