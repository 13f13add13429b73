package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/benbjohnson/litestream"
)

// Restored describes a finished restore.
type Restored struct {
	// TXID is the last replicated transaction restored (Litestream's
	// numbering: one per sync of the WAL, not one per SCIM request).
	TXID uint64
	// Through is when the replica received the last change restored.
	Through time.Time
}

// ErrNoBackup means the replica holds nothing to restore (at that time).
var ErrNoBackup = errors.New("replica holds no backup")

// Restore rebuilds the database from the replica into the new file path,
// which must not exist. A zero at restores the latest state; otherwise
// the state as it was at that moment (within retention). SQLite's full
// integrity check runs on the result before Restore returns, and a file
// that fails it is removed.
func Restore(ctx context.Context, cfg Config, path string, at time.Time, log *slog.Logger) (Restored, error) {
	var res Restored
	client, err := cfg.client()
	if err != nil {
		return res, err
	}
	if err := client.Init(ctx); err != nil {
		return res, fmt.Errorf("replica %s: %w", Redact(cfg.URL), err)
	}
	llog := slog.New(levelFilter{log.Handler(), slog.LevelWarn}).With("component", "litestream")
	plan, err := litestream.CalcRestorePlan(ctx, client, 0, at, llog)
	if errors.Is(err, litestream.ErrTxNotAvailable) || (err == nil && len(plan) == 0) {
		if at.IsZero() {
			return res, fmt.Errorf("%w at %s", ErrNoBackup, Redact(cfg.URL))
		}
		return res, fmt.Errorf("%w at %s from before %s (older than retention, or before replication began)", ErrNoBackup, Redact(cfg.URL), at.Format(time.RFC3339))
	}
	if err != nil {
		return res, fmt.Errorf("replica %s: %w", Redact(cfg.URL), err)
	}
	last := plan[len(plan)-1]
	res.TXID = uint64(last.MaxTXID)
	for _, f := range plan {
		if f.CreatedAt.After(res.Through) {
			res.Through = f.CreatedAt
		}
	}
	opt := litestream.NewRestoreOptions()
	opt.OutputPath = path
	// The planned transaction, so that what is reported is what was
	// restored even if serve (elsewhere) keeps uploading meanwhile.
	opt.TXID = last.MaxTXID
	opt.IntegrityCheck = litestream.IntegrityCheckFull
	r := litestream.NewReplicaWithClient(nil, client)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return res, err
	}
	if err := r.Restore(ctx, opt); err != nil {
		return res, fmt.Errorf("restore from %s: %w", Redact(cfg.URL), err)
	}
	return res, nil
}
