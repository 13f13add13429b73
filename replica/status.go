package replica

import (
	"encoding/json"
	"errors"
	"os"
	"time"
)

func writeStatus(path string, st Status) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ReadStatus returns what serve last published for the database at dbPath,
// with the lag computed now: if serve stopped while behind, the lag keeps
// growing, which is the truth about what the replica lacks. ok is false
// when serve has never published (never ran with [replica]).
func ReadStatus(dbPath string) (st Status, ok bool, err error) {
	b, err := os.ReadFile(StatusPath(dbPath))
	if errors.Is(err, os.ErrNotExist) {
		return st, false, nil
	}
	if err != nil {
		return st, false, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, false, err
	}
	st.Lag = st.lagAt(time.Now())
	return st, true, nil
}
