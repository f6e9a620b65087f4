package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/athlake/athlake/load/store"
)

// CommitsDir holds one marker per sink commit, written after the commit's
// files. A data file whose marker exists is committed; one without is the
// leftover of a run killed mid-commit: readers that care (snapshot views,
// mirror) skip it and the next run deletes it.
//
// No store renames: the protocol needs only objects that appear whole
// (a PUT, a completed multipart upload, a renamed temporary file).
const CommitsDir = "_commits"

// commitName names the files of one sink commit: <run>-<stream>-<seq>.
func commitName(runID, stream string, seq int) string {
	return fmt.Sprintf("%s-%s-%04d", runID, stream, seq)
}

// markerKey is the marker of a commit of source.
func markerKey(source, name string) string {
	return path.Join(CommitsDir, source, name+".json")
}

// nameRE matches a commit name: a run id (20261122T183353.123Z-1a2b3c), the
// stream, the sequence number.
var nameRE = regexp.MustCompile(`^(\d{8}T\d{6}\.\d{3}Z-[0-9a-f]{6})-(.+)-(\d{4,})$`)

// Commit identifies the commit a data file belongs to.
type Commit struct {
	Source string
	Name   string // <run>-<stream>-<seq>
	RunID  string
}

// Marker is the key of the commit's marker.
func (c Commit) Marker() string { return markerKey(c.Source, c.Name) }

// CommitOf returns the commit of a data file (a table's Parquet file, a raw
// response file, a rejects file); ok is false for other objects (state, run
// summaries, markers themselves).
func CommitOf(key string) (c Commit, ok bool) {
	parts := strings.Split(key, "/")
	base := parts[len(parts)-1]
	var name string
	switch {
	case (parts[0] == RawDir || parts[0] == RejectsDir) && len(parts) == 4:
		ext := map[string]string{RawDir: ".jsonl.zst", RejectsDir: ".jsonl"}[parts[0]]
		if !strings.HasSuffix(base, ext) {
			return c, false
		}
		name = strings.TrimSuffix(base, ext)
		c.Source = parts[1]
	case !strings.HasPrefix(parts[0], "_") && len(parts) >= 3 && strings.HasSuffix(base, ".parquet"):
		name = strings.TrimSuffix(base, ".parquet")
		c.Source = parts[0]
	default:
		return c, false
	}
	m := nameRE.FindStringSubmatch(name)
	if m == nil {
		return c, false
	}
	c.Name, c.RunID = name, m[1]
	return c, true
}

// Committed lists a lake: the committed data files, and the marker keys
// that exist. Objects that are not data files (state, summaries) are
// returned as they are.
type Committed struct {
	Objects     []store.Object // everything but uncommitted data files
	Uncommitted []store.Object
	markers     map[string]bool
}

// IsCommitted reports whether a data file's marker exists (true for
// objects that are not data files).
func (c *Committed) IsCommitted(key string) bool {
	cm, ok := CommitOf(key)
	return !ok || c.markers[cm.Marker()]
}

// ListCommitted lists the lake and sorts data files into committed and not.
func ListCommitted(ctx context.Context, st store.Store) (*Committed, error) {
	objs, err := st.List(ctx, "")
	if err != nil {
		return nil, err
	}
	c := &Committed{markers: map[string]bool{}}
	for _, o := range objs {
		if strings.HasPrefix(o.Key, CommitsDir+"/") {
			c.markers[o.Key] = true
		}
	}
	for _, o := range objs {
		if c.IsCommitted(o.Key) {
			c.Objects = append(c.Objects, o)
		} else {
			c.Uncommitted = append(c.Uncommitted, o)
		}
	}
	return c, nil
}

// LakeFormat is the version of the lake's layout, kept in FormatKey.
// Format 2 added commit markers.
const LakeFormat = 2

// FormatKey records the lake's format.
var FormatKey = path.Join(StateDir, "lake.json")

// Recover cleans up after killed runs; it must run under the run lock.
// Uncommitted data files older than before are deleted (younger ones may
// belong to a run that just lost its lease and is still stopping: they are
// left for a later run, and are harmless meanwhile, since their rows come
// again with the next fetch), and so are unfinished writes (temporary files,
// multipart uploads) started before before. It returns what it removed.
//
// A lake written before commit markers existed has none: its files are
// adopted (each commit gets its marker) instead of being taken for
// leftovers.
func Recover(ctx context.Context, st store.Store, before time.Time) (files, unfinished int, err error) {
	if unfinished, err = st.AbortUnfinished(ctx, before); err != nil {
		return 0, unfinished, fmt.Errorf("removing unfinished writes: %w", err)
	}
	c, err := ListCommitted(ctx, st)
	if err != nil {
		return 0, unfinished, err
	}
	if _, _, err := st.Get(ctx, FormatKey); errors.Is(err, store.ErrNotFound) {
		if err := adopt(ctx, st, c.Uncommitted); err != nil {
			return 0, unfinished, err
		}
		b, _ := json.Marshal(map[string]int{"format": LakeFormat})
		return 0, unfinished, st.Put(ctx, FormatKey, b)
	} else if err != nil {
		return 0, unfinished, err
	}
	for _, o := range c.Uncommitted {
		if !o.ModTime.Before(before) {
			continue
		}
		if err := st.Delete(ctx, o.Key); err != nil {
			return files, unfinished, fmt.Errorf("deleting uncommitted %s: %w", o.Key, err)
		}
		files++
	}
	return files, unfinished, nil
}

// adopt writes a marker for every commit of a lake from before markers.
func adopt(ctx context.Context, st store.Store, objs []store.Object) error {
	commits := map[Commit][]markerFile{}
	for _, o := range objs {
		c, _ := CommitOf(o.Key)
		commits[c] = append(commits[c], markerFile{Key: o.Key, Bytes: o.Size})
	}
	for c, files := range commits {
		b, err := json.MarshalIndent(marker{RunID: c.RunID, Source: c.Source, Files: files, Adopted: true}, "", "  ")
		if err != nil {
			return err
		}
		if err := st.Put(ctx, c.Marker(), append(b, '\n')); err != nil {
			return fmt.Errorf("adopting the files of %s: %w", c.Name, err)
		}
	}
	return nil
}
