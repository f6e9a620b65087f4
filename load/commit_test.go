package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/load/store/s3store/s3test"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/schemas"
	"github.com/athlake/athlake/transform"
)

// inEachStore runs test on an empty store of each kind: a local folder and
// a prefix on a real S3-compatible server.
func inEachStore(t *testing.T, test func(t *testing.T, st store.Store)) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	t.Run("local", func(t *testing.T) { test(t, newStore(t)) })
	t.Run("s3", func(t *testing.T) { test(t, srv.Store(t, bucket, "lake")) })
}

func TestCommitOf(t *testing.T) {
	t.Parallel()
	const name = "20261122T183353.123Z-1a2b3c-sets-first-0007"
	for key, want := range map[string]string{
		"plyomat/sets/date=2026-11-22/" + name + ".parquet":      "_commits/plyomat/" + name + ".json",
		"plyomat/athletes/" + name + ".parquet":                  "_commits/plyomat/" + name + ".json",
		"_raw/plyomat/sets-first/" + name + ".jsonl.zst":         "_commits/plyomat/" + name + ".json",
		"_rejects/teampro/samples/" + name + ".jsonl":            "_commits/teampro/" + name + ".json",
		"_state/plyomat.json":                                    "",
		"_runs/20261122T183353.123Z-1a2b3c.json":                 "",
		"_commits/plyomat/" + name + ".json":                     "",
		"athlake.duckdb":                                         "",
		"plyomat/athletes/notarun.parquet":                       "",
		"_raw/plyomat/sets/" + name + ".parquet":                 "",
		"plyomat/sets/date=2026-11-22/" + name + ".parquet.part": "",
	} {
		c, ok := CommitOf(key)
		if got := map[bool]string{true: c.Marker(), false: ""}[ok]; got != want {
			t.Errorf("CommitOf(%q) marker = %q, want %q", key, got, want)
		}
		if ok && c.RunID != "20261122T183353.123Z-1a2b3c" {
			t.Errorf("CommitOf(%q).RunID = %q", key, c.RunID)
		}
	}
}

// A sink commit writes its marker, listing every file, and only then is
// the commit part of the lake; Recover deletes the files of commits whose
// marker never came (a run killed mid-commit) and unfinished uploads.
func TestCommitMarkerAndRecover(t *testing.T) {
	t.Parallel()
	inEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		if _, _, err := Recover(ctx, st, schemas.All(), time.Now()); err != nil { // as a run's first step
			t.Fatal(err)
		}
		reg := schemas.All()
		sink := NewSink(st, reg, memory.DefaultAllocator, "plyomat", "athletes", "20261122T183353.123Z-1a2b3c")
		if err := sink.Add(ctx, athleteBatch(t, reg)); err != nil {
			t.Fatal(err)
		}
		stats, err := sink.Commit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := st.Get(ctx, "_commits/plyomat/20261122T183353.123Z-1a2b3c-athletes-0001.json")
		if err != nil {
			t.Fatalf("marker: %v", err)
		}
		var m marker
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, f := range m.Files {
			keys = append(keys, f.Key)
			// A file CommitOf did not recognise would never count
			// as committed (and be deleted as a leftover).
			if c, ok := CommitOf(f.Key); !ok || c.Marker() != "_commits/plyomat/20261122T183353.123Z-1a2b3c-athletes-0001.json" {
				t.Errorf("CommitOf(%q) = %+v, %v", f.Key, c, ok)
			}
		}
		want := []string{
			"_raw/plyomat/athletes/20261122T183353.123Z-1a2b3c-athletes-0001.jsonl.zst",
			"plyomat/athletes/20261122T183353.123Z-1a2b3c-athletes-0001.parquet",
		}
		if d := cmp.Diff(want, keys); d != "" || stats.Files != 2 || m.Rows["athletes"] != 2 {
			t.Fatalf("marker files (-want +got):\n%s\nstats %+v, marker rows %v", d, stats, m.Rows)
		}

		// Objects outside the lake's folders (another lake nested in
		// the bucket, anything else) are never the lake's business.
		foreign := []string{"staging/plyomat/athletes/20261122T190000.000Z-ffffff-athletes-0001.parquet", "notes/thesis.txt"}
		for _, k := range foreign {
			if err := st.Put(ctx, k, []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		defer func() {
			for _, k := range foreign {
				if _, _, err := st.Get(ctx, k); err != nil {
					t.Errorf("foreign object %s: %v", k, err)
				}
			}
		}()

		// A killed run's commit: files without a marker.
		orphan := "plyomat/athletes/20261122T190000.000Z-ffffff-athletes-0001.parquet"
		if err := st.Put(ctx, orphan, []byte("x")); err != nil {
			t.Fatal(err)
		}
		w, _ := st.Create(ctx, "plyomat/athletes/20261122T190000.000Z-ffffff-athletes-0002.parquet")
		io.WriteString(w, "unfinished") // never committed or aborted
		c, err := ListCommitted(ctx, st, schemas.All())
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Uncommitted) != 1 || c.Uncommitted[0].Key != orphan || c.Legacy {
			t.Fatalf("uncommitted = %+v (legacy %v)", c.Uncommitted, c.Legacy)
		}
		for _, o := range c.Objects {
			if strings.HasPrefix(o.Key, "staging/") || strings.HasPrefix(o.Key, "notes/") {
				t.Errorf("listed a foreign object: %s", o.Key)
			}
		}
		// Young leftovers are kept (their run may still be stopping).
		if files, _, err := Recover(ctx, st, schemas.All(), time.Now().Add(-time.Hour)); err != nil || files != 0 {
			t.Fatalf("Recover(an hour ago) = %d files, %v", files, err)
		}
		files, _, err := Recover(ctx, st, schemas.All(), time.Now().Add(time.Minute))
		if err != nil || files != 1 {
			t.Fatalf("Recover = %d files, %v; want 1", files, err)
		}
		if _, _, err := st.Get(ctx, orphan); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("orphan still there: %v", err)
		}
		for _, k := range want {
			if _, _, err := st.Get(ctx, k); err != nil {
				t.Fatalf("committed file %s: %v", k, err)
			}
		}
	})
}

// State saves are compare-and-swaps: a run whose state was written by
// another run meanwhile fails with ErrLockLost instead of overwriting it.
func TestStateCompareAndSwap(t *testing.T) {
	t.Parallel()
	inEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		a, b := &StateStore{Store: st}, &StateStore{Store: st}
		for _, s := range []*StateStore{a, b} {
			if _, err := s.Load(ctx, "plyomat"); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.Save(ctx, "plyomat", map[string][]byte{"sets": []byte(`{"n":1}`)}); err != nil {
			t.Fatal(err)
		}
		if err := a.Save(ctx, "plyomat", map[string][]byte{"sets": []byte(`{"n":2}`)}); err != nil {
			t.Fatalf("second save of the same store: %v", err)
		}
		if err := b.Save(ctx, "plyomat", map[string][]byte{"sets": []byte(`{"n":9}`)}); !errors.Is(err, pipeline.ErrLockLost) {
			t.Fatalf("save over another run's state: %v, want ErrLockLost", err)
		}
		got, err := (&StateStore{Store: st}).Load(ctx, "plyomat")
		if err != nil || string(got["sets"]) != `{"n":2}` {
			t.Fatalf("state = %s, %v; want the first run's", got["sets"], err)
		}
	})
}

// athleteBatch is a page of two Plyomat athletes, decoded as the source
// does, with its raw response.
func athleteBatch(t *testing.T, reg *schemas.Registry) *pipeline.Batch {
	t.Helper()
	tab, _ := reg.Lookup("plyomat", "athletes")
	dec := transform.NewJSON(memory.DefaultAllocator, reg, tab)
	now := time.Date(2026, 11, 22, 18, 33, 53, 0, time.UTC)
	lin := transform.Lineage{ExtractedAt: now, RunID: "20261122T183353.123Z-1a2b3c", Endpoint: "/athletes"}
	body := `[{"id":"a1","first_name":"Ann","last_name":"Lee"},{"id":"a2","first_name":"Bo","last_name":"Ek"}]`
	var recs []json.RawMessage
	if err := json.Unmarshal([]byte(body), &recs); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		dec.Add(r, lin, nil)
	}
	out, rejects := dec.Flush()
	if len(rejects) != 0 {
		t.Fatalf("rejects: %+v", rejects)
	}
	return &pipeline.Batch{Records: out, Raw: []pipeline.Raw{{Endpoint: "/athletes", FetchedAt: now, Body: []byte(body)}}}
}

// A lake written before commit markers has none: its files are adopted,
// never deleted.
func TestRecoverAdoptsLakeWithoutMarkers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStore(t)
	old := []string{
		"plyomat/athletes/20261101T100000.000Z-aaaaaa-athletes-0001.parquet",
		"plyomat/sets/month=2026-10/20261101T100000.000Z-aaaaaa-sets-0001.parquet",
		"plyomat/sets/month=2026-11/20261101T100000.000Z-aaaaaa-sets-0001.parquet",
		"_raw/plyomat/sets/20261101T100000.000Z-aaaaaa-0001.jsonl.zst", // format 1 raw name: not a commit file
	}
	for _, k := range old {
		if err := st.Put(ctx, k, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	// Before any sync of this version, readers take every file as it is.
	if c, err := ListCommitted(ctx, st, schemas.All()); err != nil || !c.Legacy || len(c.Uncommitted) != 0 || len(c.Objects) != len(old) {
		t.Fatalf("legacy listing = %+v, %v", c, err)
	}
	files, _, err := Recover(ctx, st, schemas.All(), time.Now().Add(time.Hour))
	if err != nil || files != 0 {
		t.Fatalf("Recover = %d, %v; want nothing deleted", files, err)
	}
	c, err := ListCommitted(ctx, st, schemas.All())
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Uncommitted) != 0 {
		t.Fatalf("not adopted: %+v", c.Uncommitted)
	}
	b, _, err := st.Get(ctx, "_commits/plyomat/20261101T100000.000Z-aaaaaa-sets-0001.json")
	if err != nil {
		t.Fatal(err)
	}
	var m marker
	json.Unmarshal(b, &m)
	if !m.Adopted || len(m.Files) != 2 {
		t.Fatalf("marker %s", b)
	}
	// From now on the lake has its format: leftovers are deleted.
	orphan := "plyomat/athletes/20261102T100000.000Z-bbbbbb-athletes-0001.parquet"
	st.Put(ctx, orphan, []byte("x"))
	if files, _, err := Recover(ctx, st, schemas.All(), time.Now().Add(time.Hour)); err != nil || files != 1 {
		t.Fatalf("second Recover = %d, %v; want the leftover deleted", files, err)
	}
	for _, k := range old {
		if _, _, err := st.Get(ctx, k); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	// _state/ deleted to sync afresh: the markers say the lake is format
	// 2, so a leftover is still a leftover, not adopted.
	st.Delete(ctx, FormatKey)
	st.Put(ctx, orphan, []byte("x"))
	if files, _, err := Recover(ctx, st, schemas.All(), time.Now().Add(time.Hour)); err != nil || files != 1 {
		t.Fatalf("Recover without the format record = %d, %v; want the leftover deleted", files, err)
	}
}

// failingPuts fails the n-th Put of a key under prefix, as a dropped
// connection or a kill would cut the work there.
type failingPuts struct {
	store.Store
	prefix string
	n      int
}

func (f *failingPuts) Put(ctx context.Context, key string, data []byte) error {
	if strings.HasPrefix(key, f.prefix) {
		if f.n--; f.n == 0 {
			return errors.New("connection reset")
		}
	}
	return f.Store.Put(ctx, key, data)
}

// An adoption cut short is finished by the next run: no old file is taken
// for a leftover meanwhile.
func TestInterruptedAdoptionLosesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStore(t)
	var old []string
	for i := range 5 {
		k := fmt.Sprintf("plyomat/athletes/2026110%dT100000.000Z-aaaaaa-athletes-0001.parquet", i+1)
		old = append(old, k)
		st.Put(ctx, k, []byte("x"))
	}
	if _, _, err := Recover(ctx, &failingPuts{Store: st, prefix: CommitsDir + "/", n: 3}, schemas.All(), time.Now().Add(time.Hour)); err == nil {
		t.Fatal("the cut adoption reported success")
	}
	c, err := ListCommitted(ctx, st, schemas.All())
	if err != nil || !c.Legacy || len(c.Uncommitted) != 0 {
		t.Fatalf("mid-adoption listing: legacy %v, uncommitted %v, %v", c.Legacy, c.Uncommitted, err)
	}
	if files, _, err := Recover(ctx, st, schemas.All(), time.Now().Add(time.Hour)); err != nil || files != 0 {
		t.Fatalf("second Recover = %d, %v", files, err)
	}
	c, _ = ListCommitted(ctx, st, schemas.All())
	if c.Legacy || len(c.Uncommitted) != 0 || len(c.Markers) != 5 {
		t.Fatalf("after adoption: legacy %v, %d uncommitted, %d markers", c.Legacy, len(c.Uncommitted), len(c.Markers))
	}
	for _, k := range old {
		if _, _, err := st.Get(ctx, k); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
}

// commitDuringList runs a commit when the listing reaches prefix, as a
// sync in progress would while views or a mirror list the lake.
type commitDuringList struct {
	store.Store
	prefix string
	commit func()
}

func (c *commitDuringList) List(ctx context.Context, prefix string) ([]store.Object, error) {
	if prefix == c.prefix && c.commit != nil {
		c.commit()
		c.commit = nil
	}
	return c.Store.List(ctx, prefix)
}

// A listing never admits a commit whose files it missed: a commit that
// lands while the lake is being listed is either whole or not admitted.
func TestListingNeverAdmitsAHalfSeenCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := schemas.All()
	for _, at := range Dirs(reg) {
		st := newStore(t)
		Recover(ctx, st, reg, time.Now())
		l := &commitDuringList{Store: st, prefix: at + "/", commit: func() {
			sink := NewSink(st, reg, memory.DefaultAllocator, "plyomat", "athletes", "20261122T183353.123Z-1a2b3c")
			sink.Add(ctx, athleteBatch(t, reg))
			if _, err := sink.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}}
		c, err := ListCommitted(ctx, l, reg)
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, o := range c.Objects {
			have[o.Key] = true
		}
		for key := range c.Markers {
			b, _, _ := st.Get(ctx, key)
			var m marker
			json.Unmarshal(b, &m)
			for _, f := range m.Files {
				if !have[f.Key] {
					t.Errorf("commit landing while %s/ was listed: marker admitted without %s", at, f.Key)
				}
			}
		}
	}
}

// TestFrontier: a later listing's frontier is never older — a newer run,
// or more commits of the same run (a listing taken while a run commits
// is older than the one after its last commit).
func TestFrontier(t *testing.T) {
	listing := func(names ...string) *Committed {
		c := &Committed{Markers: map[string]time.Time{}}
		for _, n := range names {
			c.Markers[markerKey("plyomat", n)] = time.Time{}
		}
		return c
	}
	a1, a2 := "20261122T183353.123Z-1a2b3c-sets-0001", "20261122T183353.123Z-1a2b3c-reps-0002"
	b1, b2 := "20261123T070000.000Z-4d5e6f-sets-0001", "20261123T070000.000Z-4d5e6f-compact-0002"
	order := []*Committed{listing(), listing(a1), listing(a1, a2), listing(a1, a2, b1), listing(a1, a2, b1, b2)}
	for i := 1; i < len(order); i++ {
		if before, after := order[i-1].Frontier(), order[i].Frontier(); before >= after {
			t.Errorf("listing %d: frontier %q, not newer than %q", i, after, before)
		}
	}
	// The older run's markers gone (its files replaced and deleted):
	// the same frontier.
	if a, b := order[4].Frontier(), listing(b1, b2).Frontier(); a != b {
		t.Errorf("frontier %q without the older run's markers, want %q", b, a)
	}
}
