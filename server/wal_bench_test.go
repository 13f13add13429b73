package server_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"scimd/store"
)

// BenchmarkCreateWALPages: how many pages of write-ahead log a create adds,
// with eight creates at a time (they share commits, as concurrent requests
// do) into a store of 20,000 users; without events and with every event
// type wanted, as a webhook does. Each page is written and fsynced with its
// commit, read again by checkpoints and, with replication on, by the
// replicator: fewer pages per create is less of all three.
//
//	go test -run '^$' -bench CreateWALPages -benchtime 4000x ./server
func BenchmarkCreateWALPages(b *testing.B) {
	for _, events := range []bool{false, true} {
		name := "events=off"
		if events {
			name = "events=on"
		}
		b.Run(name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "wal.db")
			// No checkpoint: the WAL only grows, so its size counts pages.
			opt := store.Options{NoAutoCheckpoint: true}
			if events {
				opt.Events = func(string) bool { return true }
			}
			st, err := store.Open(path, opt)
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			if events {
				if err := st.SetupWebhooks(context.Background(), []string{"bench"}); err != nil {
					b.Fatal(err)
				}
			}
			if err := createUsers(st, 0, 20_000, 8); err != nil {
				b.Fatal(err)
			}
			size := func() int64 {
				fi, err := os.Stat(path + "-wal")
				if err != nil {
					b.Fatal(err)
				}
				return fi.Size()
			}
			before := size()
			b.ResetTimer()
			if err := createUsers(st, 20_000, b.N, 8); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			const frame = 24 + 4096 // frame header and a page
			b.ReportMetric(float64(size()-before)/frame/float64(b.N), "wal-pages/op")
		})
	}
}
