package load

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"time"

	"github.com/athlake/athlake/load/store"
)

// ReplacedGrace is how long the files a compaction replaced stay in the lake
// after its marker: a notebook that opened the views before the compaction
// reads them meanwhile.
const ReplacedGrace = 24 * time.Hour

// CompactedFile is a compaction's output: a complete local Parquet file and
// the key it takes in the lake.
type CompactedFile struct {
	Local string
	Key   string
}

// CompactionKey is where a compaction's file for a table partition goes:
// <source>/<table>/<partition dir>/<run>-compact-<seq>.parquet.
func CompactionKey(source, table, partDir, runID string, seq int) string {
	return path.Join(source, table, partDir, commitName(runID, CompactStream, seq)+parquetExt)
}

// CommitCompaction copies the files into the store, then writes the marker
// that admits them and replaces the files in replaces: a crash before the
// marker leaves files no view reads (a later run deletes them), after it
// the views read the new files, holding the same rows. seq numbers the
// run's compaction commits of source.
func CommitCompaction(ctx context.Context, st store.Store, source, runID string, seq int, files []CompactedFile, replaces []string) error {
	m := marker{RunID: runID, Source: source, Stream: CompactStream, Seq: seq, Replaces: replaces}
	for _, f := range files {
		n, err := upload(ctx, st, f.Local, f.Key)
		if err != nil {
			return fmt.Errorf("%s: %w", f.Key, err)
		}
		m.Files = append(m.Files, markerFile{Key: f.Key, Bytes: n})
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := st.Put(ctx, markerKey(source, commitName(runID, CompactStream, seq)), append(b, '\n')); err != nil {
		return fmt.Errorf("writing the compaction marker: %w", err)
	}
	return nil
}

func upload(ctx context.Context, st store.Store, local, key string) (int64, error) {
	f, err := os.Open(local)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w, err := st.Create(ctx, key)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(w, f)
	if err != nil {
		w.Abort()
		return 0, err
	}
	return n, w.Commit()
}

// DeleteReplaced deletes the files that compactions committed before
// before replaced, and the markers of those compactions once nothing they
// admit or replace is left. It must run under the run lock. It returns how
// many files it deleted.
func DeleteReplaced(ctx context.Context, st store.Store, c *Committed, before time.Time) (int, error) {
	present := map[string]bool{}
	for _, o := range c.Objects {
		present[o.Key] = true
	}
	deleted := 0
	for _, cp := range c.Compactions {
		if !cp.At.Before(before) {
			continue
		}
		for _, r := range cp.Replaces {
			if !present[r] {
				continue
			}
			if err := st.Delete(ctx, r); err != nil {
				return deleted, fmt.Errorf("deleting replaced %s: %w", r, err)
			}
			delete(present, r)
			deleted++
		}
	}
	// A compaction whose files were all replaced in turn, and deleted,
	// admits nothing and replaces nothing left: its marker goes too.
	for _, cp := range c.Compactions {
		if !cp.At.Before(before) {
			continue
		}
		b, _, err := st.Get(ctx, cp.Marker)
		if err != nil {
			return deleted, fmt.Errorf("reading %s: %w", cp.Marker, err)
		}
		var m marker
		if err := json.Unmarshal(b, &m); err != nil {
			return deleted, fmt.Errorf("%s: %w", cp.Marker, err)
		}
		live := false
		for _, f := range m.Files {
			live = live || present[f.Key]
		}
		for _, r := range m.Replaces {
			live = live || present[r]
		}
		if live {
			continue
		}
		if err := st.Delete(ctx, cp.Marker); err != nil {
			return deleted, fmt.Errorf("deleting %s: %w", cp.Marker, err)
		}
	}
	return deleted, nil
}
