package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/schemas"
)

// CommitsDir holds one marker per sink commit, written after the commit's
// files. A data file whose marker exists is committed; one without is a
// commit in progress or the leftover of a run killed mid-commit: readers
// (views, mirror) skip it and a later run deletes it.
//
// No store renames: the protocol needs only objects that appear whole
// (a PUT, a completed multipart upload, a renamed temporary file).
const CommitsDir = "_commits"

// The extensions of a commit's files: the sink names them, CommitOf reads
// the names back.
const (
	parquetExt = ".parquet"
	rawExt     = ".jsonl.zst"
	rejectsExt = ".jsonl"
)

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
	Stream string
}

// CompactStream is the stream name of compaction commits: their files hold
// the current state of their table's partition, one row per key.
const CompactStream = "compact"

// Compacted tells a compaction's file.
func (c Commit) Compacted() bool { return c.Stream == CompactStream }

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
		ext := map[string]string{RawDir: rawExt, RejectsDir: rejectsExt}[parts[0]]
		if !strings.HasSuffix(base, ext) {
			return c, false
		}
		name = strings.TrimSuffix(base, ext)
		c.Source = parts[1]
	case !strings.HasPrefix(parts[0], "_") && len(parts) >= 3 && strings.HasSuffix(base, parquetExt):
		name = strings.TrimSuffix(base, parquetExt)
		c.Source = parts[0]
	default:
		return c, false
	}
	m := nameRE.FindStringSubmatch(name)
	if m == nil {
		return c, false
	}
	c.Name, c.RunID, c.Stream = name, m[1], m[2]
	return c, true
}

// CommitOfMarker returns the commit a marker key (_commits/<source>/<name>.json)
// stands for.
func CommitOfMarker(key string) (c Commit, ok bool) {
	rest, ok := strings.CutPrefix(key, CommitsDir+"/")
	source, file, found := strings.Cut(rest, "/")
	name, isJSON := strings.CutSuffix(file, ".json")
	m := nameRE.FindStringSubmatch(name)
	if !ok || !found || !isJSON || m == nil {
		return c, false
	}
	return Commit{Source: source, Name: name, RunID: m[1], Stream: m[2]}, true
}

// Dirs are the top folders of a lake: athlake's own and one per source.
// Everything a lake reads, cleans or mirrors is under them, so a lake can
// share a bucket (or a folder) with anything else. The state and the
// markers come first: a listing sees a marker only if it was written before
// the listing of the data began, so it never admits a commit whose files
// it missed.
func Dirs(reg *schemas.Registry) []string {
	out := []string{StateDir, CommitsDir}
	for _, t := range reg.Tables() {
		if !slices.Contains(out, t.Source) {
			out = append(out, t.Source)
		}
	}
	return append(out, RawDir, RejectsDir, RunsDir)
}

// Committed is a listing of a lake.
type Committed struct {
	// Objects are the lake's objects but uncommitted data files.
	Objects []store.Object
	// Uncommitted are data files whose commit marker does not exist.
	Uncommitted []store.Object
	// Markers maps each commit marker to when it was written (the
	// store's clock).
	Markers map[string]time.Time
	// Legacy is a lake from before commit markers (no markers and no
	// format record, or an adoption not finished): all its files count
	// as committed.
	Legacy bool
	// Replaced holds the files committed compactions replaced: still in
	// the lake (Objects) until their grace has passed, read by no view.
	Replaced map[string]bool
	// Compactions are the committed compaction markers, oldest first.
	Compactions []Compaction
	format      *lakeFormat // nil: no record
}

// Frontier orders listings of the lake: the run id of the newest commit
// in it and how many commits of that run it holds ("" for none). Run ids
// sort by their start and a run's commits only grow, so a later listing's
// frontier is never older, and one taken during a run is older than one
// taken after more of that run's commits.
func (c *Committed) Frontier() string {
	var run string
	n := 0
	for key := range c.Markers {
		cm, ok := CommitOfMarker(key)
		switch {
		case !ok:
		case cm.RunID > run:
			run, n = cm.RunID, 1
		case cm.RunID == run:
			n++
		}
	}
	if run == "" {
		return ""
	}
	return fmt.Sprintf("%s/%08d", run, n)
}

// Compaction is a committed compaction's marker.
type Compaction struct {
	Marker   string
	At       time.Time // when the marker was written (the store's clock)
	Replaces []string
}

// lakeFormat is the content of FormatKey.
type lakeFormat struct {
	Format int `json:"format"`
	// Adopting is set while the files of a lake from before markers are
	// given theirs: until it is cleared, the lake still reads as legacy.
	Adopting bool `json:"adopting,omitempty"`
}

// ListCommitted lists the lake and sorts data files into committed and not.
func ListCommitted(ctx context.Context, st store.Store, reg *schemas.Registry) (*Committed, error) {
	var objs []store.Object
	for _, dir := range Dirs(reg) {
		o, err := st.List(ctx, dir+"/")
		if err != nil {
			return nil, err
		}
		objs = append(objs, o...)
	}
	c := &Committed{Markers: map[string]time.Time{}}
	for _, o := range objs {
		if strings.HasPrefix(o.Key, CommitsDir+"/") {
			c.Markers[o.Key] = o.ModTime
		}
		if o.Key == FormatKey {
			b, _, err := st.Get(ctx, FormatKey)
			if err != nil {
				return nil, err
			}
			c.format = &lakeFormat{}
			if err := json.Unmarshal(b, c.format); err != nil {
				return nil, fmt.Errorf("%s: %w", FormatKey, err)
			}
			if c.format.Format > LakeFormat {
				return nil, fmt.Errorf("%s: lake format %d, this athlake reads format %d or older", FormatKey, c.format.Format, LakeFormat)
			}
		}
	}
	c.Legacy = c.format == nil && len(c.Markers) == 0 || c.format != nil && c.format.Adopting
	c.Replaced = map[string]bool{}
	for _, key := range slices.Sorted(maps.Keys(c.Markers)) {
		if m := nameRE.FindStringSubmatch(strings.TrimSuffix(path.Base(key), ".json")); m == nil || m[2] != CompactStream {
			continue
		}
		b, _, err := st.Get(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			continue // a dead compaction's marker, deleted since the listing
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", key, err)
		}
		var mk marker
		if err := json.Unmarshal(b, &mk); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		c.Compactions = append(c.Compactions, Compaction{Marker: key, At: c.Markers[key], Replaces: mk.Replaces})
		for _, r := range mk.Replaces {
			c.Replaced[r] = true
		}
	}
	slices.SortStableFunc(c.Compactions, func(a, b Compaction) int { return a.At.Compare(b.At) })
	for _, o := range objs {
		if cm, ok := CommitOf(o.Key); ok && !c.Legacy && c.Markers[cm.Marker()].IsZero() {
			c.Uncommitted = append(c.Uncommitted, o)
		} else {
			c.Objects = append(c.Objects, o)
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
// belong to a run that is still stopping; readers skip them anyway), and so
// are unfinished writes (temporary files, multipart uploads) started before
// before. It returns what it removed.
//
// A lake written before commit markers existed has none: its files are
// adopted (each commit gets its marker) instead of being taken for
// leftovers; the format record says "adopting" until every marker is
// written, so an adoption cut short is finished by the next run. A lake
// with markers but no format record (its _state/ was deleted to sync
// afresh) is not adopted again.
func Recover(ctx context.Context, st store.Store, reg *schemas.Registry, before time.Time) (files, unfinished int, err error) {
	for _, dir := range Dirs(reg) {
		n, err := st.AbortUnfinished(ctx, dir+"/", before)
		unfinished += n
		if err != nil {
			return 0, unfinished, fmt.Errorf("removing unfinished writes: %w", err)
		}
	}
	c, err := ListCommitted(ctx, st, reg)
	if err != nil {
		return 0, unfinished, err
	}
	putFormat := func(f lakeFormat) error {
		b, _ := json.Marshal(f)
		return st.Put(ctx, FormatKey, b)
	}
	if c.Legacy {
		if err := putFormat(lakeFormat{Format: LakeFormat, Adopting: true}); err != nil {
			return 0, unfinished, err
		}
		if err := adopt(ctx, st, c.Objects); err != nil {
			return 0, unfinished, err
		}
		return 0, unfinished, putFormat(lakeFormat{Format: LakeFormat})
	}
	if c.format == nil {
		if err := putFormat(lakeFormat{Format: LakeFormat}); err != nil {
			return 0, unfinished, err
		}
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

// adopt writes a marker for every commit of a lake from before markers,
// one after the other in commit order, so that their times (by which views
// pick the newest snapshot) follow the runs.
func adopt(ctx context.Context, st store.Store, objs []store.Object) error {
	commits := map[Commit][]markerFile{}
	for _, o := range objs {
		if c, ok := CommitOf(o.Key); ok {
			commits[c] = append(commits[c], markerFile{Key: o.Key, Bytes: o.Size})
		}
	}
	for _, c := range slices.SortedFunc(maps.Keys(commits), func(a, b Commit) int { return strings.Compare(a.Marker(), b.Marker()) }) {
		b, err := json.MarshalIndent(marker{RunID: c.RunID, Source: c.Source, Files: commits[c], Adopted: true}, "", "  ")
		if err != nil {
			return err
		}
		if err := st.Put(ctx, c.Marker(), append(b, '\n')); err != nil {
			return fmt.Errorf("adopting the files of %s: %w", c.Name, err)
		}
	}
	return nil
}
