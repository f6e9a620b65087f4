package iceberg

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	iofs "io/fs"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	iceio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/athlake/athlake/load"
	"github.com/athlake/athlake/schemas"
)

// Want is a lake table's committed state, as its view reads it.
type Want struct {
	Table *schemas.Table
	// Files are the keys (relative to the lake's root) of the files the
	// view reads.
	Files []string
	// Hidden are the rows of those files the view does not show: by key,
	// their positions, ascending.
	Hidden map[string][]int64
	// Sizes are the files' sizes in bytes, by key (optional): a file
	// rewritten in place under its key (a rebuild) whose size changed is
	// registered again.
	Sizes map[string]int64
	// Frontier is the newest commit's run id in the lake listing w was
	// read from (run ids sort by time): a publish never replaces a
	// snapshot of a newer listing, so one that ran beside a later run's
	// (`iceberg register` beside a sync) cannot turn a table back.
	Frontier string
}

// Summary properties of the snapshots Publish commits.
const (
	// SummaryState is a digest of the state the snapshot holds (its files
	// and hidden rows): a publish whose state has it changes nothing.
	SummaryState = "athlake.state"
	// SummaryCommits lists the athlake commits (<run>-<stream>-<seq>, the
	// names of their markers under _commits/<source>/) whose files the
	// snapshot adds; the table's files name the commits it holds.
	SummaryCommits = "athlake.commits"
	// SummaryPublishedAt is when the snapshot was published (RFC 3339,
	// by the catalog's clock): what expiry goes by.
	SummaryPublishedAt = "athlake.published-at"
	// SummaryFrontier is the Want.Frontier of the listing the snapshot
	// was published from.
	SummaryFrontier = "athlake.frontier"
)

// attempts bounds how often Publish starts again after another
// publisher's commit beat its own.
const attempts = 5

// maxManifests is how many manifests of a kind (data, deletes) a table's
// snapshot holds before a publish that changes it tidies them up.
const maxManifests = 16

// Retention is how long a replaced snapshot stays readable (time travel):
// as long as the lake keeps the files a compaction replaced
// (load.ReplacedGrace), after which they are deleted and the snapshots
// that read them could not be read anyway. The current snapshot always
// stays.
const Retention = load.ReplacedGrace

const gcEnabled = "gc.enabled"

// Result is what publishing one table did.
type Result struct {
	Table    string `json:"table"`
	Changed  bool   `json:"changed"`
	Snapshot int64  `json:"snapshot,omitempty"`
	// Snapshots is how many snapshots the commit added: one, or two when
	// a compaction's replace and new deletes meet (see Publish).
	Snapshots   int `json:"snapshots,omitempty"`
	Added       int `json:"added_files,omitempty"`
	Removed     int `json:"removed_files,omitempty"`
	DeleteFiles int `json:"delete_files_added,omitempty"`
	DeletesGone int `json:"delete_files_removed,omitempty"`
	Expired     int `json:"expired_snapshots,omitempty"`
	// FilesRemoved counts the table's own files (manifest lists,
	// manifests, position deletes) that only the expired snapshots read.
	FilesRemoved int `json:"files_removed,omitempty"`
	// ExpireError says why expiring snapshots or removing their files
	// failed, after the publish itself committed: the next publish tries
	// again.
	ExpireError string `json:"expire_error,omitempty"`
	// Behind tells a table left alone because it holds the state of a
	// newer listing of the lake than this publish's.
	Behind bool `json:"behind,omitempty"`
}

// Publish makes the current snapshot of the table's Iceberg table (created
// if missing) hold exactly w: the data files w.Files (under root, the
// lake's folder or s3:// URL) and position deletes for w.Hidden. It commits
// nothing when the snapshot holds that state already.
//
// The change is one catalog commit. It is one snapshot, except when data
// files leave the table (a compaction) while new rows must be hidden:
// iceberg-go v0.7.0 has no single operation that removes data files and
// adds position deletes (a rewrite's added deletes take the sequence number
// of the deletes they replace, so they would not apply to data files the
// same snapshot adds), so the replace and the deletes are two snapshots
// of the one commit; readers of the current snapshot never see the first.
//
// Another publisher's commit between loading the table and committing
// fails the commit (the catalog checks the snapshot it was based on);
// Publish then starts again from the table as it is now.
func (c *Catalog) Publish(ctx context.Context, root string, w Want) (res Result, err error) {
	for range attempts {
		res, err = c.publish(ctx, root, w)
		if !lostCommit(err) {
			break
		}
	}
	return res, err
}

// lostCommit tells a commit that another commit beat: the REST and Glue
// catalogs and a SQL catalog's last check say table.ErrCommitFailed; the
// SQL catalog's check of the requirements (the snapshot the commit was
// based on) says only this, untyped, in iceberg-go v0.7.0.
func lostCommit(err error) bool {
	return err != nil && (errors.Is(err, table.ErrCommitFailed) || strings.Contains(err.Error(), "requirement failed: "))
}

func (c *Catalog) publish(ctx context.Context, root string, w Want) (Result, error) {
	ctx = c.IOContext(ctx)
	t := w.Table
	res := Result{Table: t.ViewName()}
	tbl, err := c.ensureTable(ctx, t)
	if err != nil {
		return res, err
	}
	root = strings.TrimSuffix(root, "/")
	state := stateDigest(w)
	if s := tbl.CurrentSnapshot(); s != nil && s.Summary != nil && s.Summary.Properties[SummaryState] == state {
		c.expire(ctx, tbl, &res)
		return res, nil
	}
	if s := tbl.CurrentSnapshot(); s != nil && s.Summary != nil && s.Summary.Properties[SummaryFrontier] > w.Frontier {
		res.Behind = true
		return res, nil
	}
	if s := tbl.CurrentSnapshot(); s == nil && len(w.Files) == 0 {
		return res, nil
	}
	fs, err := tbl.FS(ctx)
	if err != nil {
		return res, err
	}
	cur, err := currentFiles(ctx, fs, tbl)
	if err != nil {
		return res, fmt.Errorf("%s: reading the current snapshot: %w", res.Table, err)
	}

	// Data files: the view's files, registered where they are.
	want := map[string]bool{}
	var added, removed, readded []ice.DataFile
	rewritten := map[string]bool{} // files rewritten in place: registered again
	var commits []string
	for _, key := range w.Files {
		p := root + "/" + key
		want[p] = true
		if df := cur.data[p]; df != nil {
			if n, ok := w.Sizes[key]; !ok || n == df.FileSizeBytes() {
				continue
			}
			rewritten[p] = true
			removed = append(removed, df)
		}
		df, err := table.FileToDataFile(ctx, fs, p, tbl.Schema(), tbl.Spec(), 0, tbl.Properties())
		if err != nil {
			return res, fmt.Errorf("%s: registering %s: %w", res.Table, key, err)
		}
		if rewritten[p] {
			readded = append(readded, df)
		} else {
			added = append(added, df)
		}
		if cm, ok := load.CommitOf(key); ok && !slices.Contains(commits, cm.Name) {
			commits = append(commits, cm.Name)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(cur.data)) {
		if !want[p] {
			removed = append(removed, cur.data[p])
		}
	}

	// Every append adds a manifest, and every new delete file one more,
	// each read by every publish and every reader's planning: past
	// maxManifests of a kind, the data manifests are merged and every
	// partition's deletes written anew in one file.
	tidyData := cur.manifests[ice.ManifestContentData] > maxManifests
	tidyDeletes := cur.manifests[ice.ManifestContentDeletes] > maxManifests

	// Position deletes, partition by partition: a partition's deletes
	// only grow (a file's hidden rows stay hidden while it stays) and get
	// a file of the new ones; a partition whose deletes must shrink, or
	// name files that leave, gets its deletes written anew.
	hidden := map[string][]int64{}
	for key, pos := range w.Hidden {
		hidden[root+"/"+key] = pos
	}
	partOf := map[string]partition{}
	for p, df := range cur.data {
		partOf[p] = partitionOf(df)
	}
	for _, df := range slices.Concat(added, readded) {
		partOf[df.FilePath()] = partitionOf(df)
	}
	type partDeletes struct {
		part    partition
		files   []ice.DataFile // live delete files
		applied map[string]map[int64]bool
	}
	parts := map[string]*partDeletes{}
	get := func(p partition) *partDeletes {
		if parts[p.key] == nil {
			parts[p.key] = &partDeletes{part: p, applied: map[string]map[int64]bool{}}
		}
		return parts[p.key]
	}
	for _, del := range cur.deletes {
		pd := get(partitionOf(del.file))
		pd.files = append(pd.files, del.file)
		for p, pos := range del.rows {
			if pd.applied[p] == nil {
				pd.applied[p] = map[int64]bool{}
			}
			for _, x := range pos {
				pd.applied[p][x] = true
			}
		}
	}
	for p := range hidden {
		part, ok := partOf[p]
		if !ok || !want[p] {
			return res, fmt.Errorf("%s: hidden rows of %s, which is not among the files", res.Table, p)
		}
		get(part)
	}
	var delAdd, delRemove []ice.DataFile
	for _, k := range slices.Sorted(maps.Keys(parts)) {
		pd := parts[k]
		rewrite := tidyDeletes
		for p, pos := range pd.applied {
			if !want[p] || rewritten[p] {
				rewrite = true // a file that leaves: its deletes go
				break
			}
			h := hidden[p]
			for x := range pos {
				if _, found := slices.BinarySearch(h, x); !found {
					rewrite = true // a row shown again
					break
				}
			}
		}
		rows := map[string][]int64{}
		for p, h := range hidden {
			if partOf[p].key != k {
				continue
			}
			for _, x := range h {
				if rewrite || !pd.applied[p][x] {
					rows[p] = append(rows[p], x)
				}
			}
		}
		if rewrite {
			delRemove = append(delRemove, pd.files...)
		}
		if len(rows) == 0 {
			continue
		}
		df, err := c.writeDeletes(ctx, tbl, fs, pd.part, rows)
		if err != nil {
			return res, fmt.Errorf("%s: writing position deletes: %w", res.Table, err)
		}
		delAdd = append(delAdd, df)
	}

	props := ice.Properties{SummaryState: state, SummaryPublishedAt: c.now().UTC().Format(time.RFC3339Nano), SummaryFrontier: w.Frontier}
	if len(commits) > 0 {
		props[SummaryCommits] = strings.Join(commits, ",")
	}
	nAdded := len(added) + len(readded)
	txn := tbl.NewTransaction()
	snaps := 0
	if tidyData && len(removed)+len(delRemove)+len(added)+len(readded)+len(delAdd) > 0 {
		// First, so that the snapshot this publish leaves current is
		// its own, with its summary (a table that holds its state
		// already is left as it is).
		r, err := txn.RewriteManifests(ctx)
		if err != nil {
			return res, fmt.Errorf("%s: merging manifests: %w", res.Table, err)
		}
		if !r.IsNoOp() {
			snaps++
		}
	}
	if len(removed)+len(delRemove) > 0 {
		if err := txn.ReplaceFiles(ctx, removed, added, delRemove, props); err != nil {
			return res, fmt.Errorf("%s: replacing files: %w", res.Table, err)
		}
		snaps++
		added = nil
	}
	// A file rewritten in place leaves in the replace and comes back
	// here: one snapshot cannot remove and add one path.
	added = append(added, readded...)
	if len(added)+len(delAdd) > 0 {
		rd := txn.NewRowDelta(props).AddRows(added...).AddDeletes(delAdd...)
		if err := rd.Commit(ctx); err != nil {
			return res, fmt.Errorf("%s: adding files: %w", res.Table, err)
		}
		snaps++
	}
	if snaps == 0 {
		// The snapshot holds the state already, under another digest
		// (one written by another version): nothing to commit.
		c.expire(ctx, tbl, &res)
		return res, nil
	}
	if c.beforeCommit != nil {
		c.beforeCommit()
	}
	tbl, err = txn.Commit(ctx)
	if err != nil {
		if lostCommit(err) {
			// Nothing of the commit is in the table: the delete files
			// it wrote are read by none (the next attempt writes its own).
			for _, df := range delAdd {
				fs.Remove(df.FilePath())
			}
		}
		return res, fmt.Errorf("%s: committing: %w", res.Table, err)
	}
	res.Changed, res.Snapshots = snaps > 0, snaps
	res.Added, res.Removed = nAdded, len(removed)
	res.DeleteFiles, res.DeletesGone = len(delAdd), len(delRemove)
	if s := tbl.CurrentSnapshot(); s != nil {
		res.Snapshot = s.SnapshotID
	}
	c.expire(ctx, tbl, &res)
	return res, nil
}

// expire drops the snapshots replaced more than Retention ago (by the
// catalog's clock: the publish of the snapshot that followed them), but
// the current one and those a tag or branch names, and then the files of
// the table's own that only they read (removeUnread). One catalog commit,
// made only if the current snapshot is still the one seen. It is upkeep:
// a failure is reported in res.ExpireError, and the publish stands.
func (c *Catalog) expire(ctx context.Context, tbl *table.Table, res *Result) {
	if err := c.expireSnapshots(ctx, tbl, res); err != nil {
		res.ExpireError = err.Error()
	}
}

func (c *Catalog) expireSnapshots(ctx context.Context, tbl *table.Table, res *Result) error {
	cur := tbl.CurrentSnapshot()
	if cur == nil {
		return nil
	}
	now := c.now()
	refs := map[int64]bool{}
	for _, r := range tbl.Metadata().Refs() {
		refs[r.SnapshotID] = true // the current one, and any tag's
	}
	// A snapshot was replaced when its first child was published.
	replaced := map[int64]time.Time{}
	for _, s := range tbl.Metadata().Snapshots() {
		if p := s.ParentSnapshotID; p != nil {
			if at, ok := replaced[*p]; !ok || publishedAt(s).Before(at) {
				replaced[*p] = publishedAt(s)
			}
		}
	}
	var old []int64
	loaded := map[int64]table.Snapshot{}
	for _, s := range tbl.Metadata().Snapshots() {
		loaded[s.SnapshotID] = s
		at, ok := replaced[s.SnapshotID]
		if !ok {
			at = publishedAt(s) // replaced by none: left behind
		}
		if !refs[s.SnapshotID] && now.Sub(at) > c.retention {
			old = append(old, s.SnapshotID)
		}
	}
	if len(old) == 0 {
		return nil
	}
	id := cur.SnapshotID
	reqs := []table.Requirement{table.AssertTableUUID(tbl.Metadata().TableUUID()), table.AssertRefSnapshotID(table.MainBranch, &id)}
	meta, _, err := c.cat.CommitTable(ctx, tbl.Identifier(), reqs, []table.Update{table.NewRemoveSnapshotsUpdate(old, false)})
	if err != nil {
		return fmt.Errorf("%s: expiring snapshots: %w", res.Table, err)
	}
	res.Expired = len(old)
	// What the commit left: the snapshots another writer's commit added
	// meanwhile (on a branch) are kept too.
	kept := meta.Snapshots()
	var gone []table.Snapshot
	for _, id := range old {
		if meta.SnapshotByID(id) == nil {
			gone = append(gone, loaded[id])
		}
	}
	// The metadata files the commit dropped from the table's log
	// (write.metadata.previous-versions-max) go too, as a transaction's
	// commit removes them.
	logged := map[string]bool{}
	for e := range meta.PreviousFiles() {
		logged[e.MetadataFile] = true
	}
	var dropped []string
	for e := range tbl.Metadata().PreviousFiles() {
		if !logged[e.MetadataFile] {
			dropped = append(dropped, e.MetadataFile)
		}
	}
	n, err := c.removeUnread(ctx, tbl, gone, kept, dropped)
	res.FilesRemoved = n
	if err != nil {
		return fmt.Errorf("%s: removing the files of expired snapshots: %w", res.Table, err)
	}
	return nil
}

// removeUnread removes, once the snapshots gone are expired, the files of
// the table's own that only they read: their manifest lists, and the
// manifests and position delete files no kept snapshot reads; and the
// files more (metadata files no longer logged). Only files
// under the table's location go: never a data file, which is the lake's.
// A removal that fails, or a run killed meanwhile, leaves files no
// snapshot reads, which harm nothing.
//
// Manifests are shared between snapshots, so it reads manifest lists, and
// manifests' entries only where delete files may go: the delete manifests
// only gone snapshots read, and, if those name any, the kept snapshots'.
func (c *Catalog) removeUnread(ctx context.Context, tbl *table.Table, gone, kept []table.Snapshot, more []string) (int, error) {
	fs, err := tbl.FS(ctx)
	if err != nil {
		return 0, err
	}
	manifests := func(snaps []table.Snapshot) (map[string]ice.ManifestFile, error) {
		out := map[string]ice.ManifestFile{}
		for _, s := range snaps {
			mfs, err := s.Manifests(fs)
			if err != nil {
				return nil, err
			}
			for _, mf := range mfs {
				out[mf.FilePath()] = mf
			}
		}
		return out, nil
	}
	deleteFiles := func(mfs map[string]ice.ManifestFile, skip map[string]ice.ManifestFile) (map[string]bool, error) {
		out := map[string]bool{}
		for p, mf := range mfs {
			if _, ok := skip[p]; ok || mf.ManifestContent() != ice.ManifestContentDeletes {
				continue
			}
			entries, err := mf.FetchEntries(fs, false)
			if err != nil {
				return nil, err
			}
			for _, e := range entries {
				out[e.DataFile().FilePath()] = true
			}
		}
		return out, nil
	}
	keptM, err := manifests(kept)
	if err != nil {
		return 0, err
	}
	goneM, err := manifests(gone)
	if err != nil {
		return 0, err
	}
	unread := map[string]bool{}
	for _, p := range more {
		unread[p] = true
	}
	for _, s := range gone {
		unread[s.ManifestList] = true
	}
	for p := range goneM {
		if _, ok := keptM[p]; !ok {
			unread[p] = true
		}
	}
	dels, err := deleteFiles(goneM, keptM)
	if err != nil {
		return 0, err
	}
	if len(dels) > 0 {
		read, err := deleteFiles(keptM, nil)
		if err != nil {
			return 0, err
		}
		for p := range dels {
			if !read[p] {
				unread[p] = true
			}
		}
	}
	mine := strings.TrimSuffix(tbl.Location(), "/") + "/"
	removed := 0
	for _, p := range slices.Sorted(maps.Keys(unread)) {
		if !strings.HasPrefix(p, mine) {
			continue
		}
		if err := fs.Remove(p); err != nil && !errors.Is(err, iofs.ErrNotExist) {
			return removed, err
		}
		removed++
	}
	return removed, nil
}

// publishedAt is when a snapshot was published: its summary's
// SummaryPublishedAt, else its commit time.
func publishedAt(s table.Snapshot) time.Time {
	if s.Summary != nil {
		if t, err := time.Parse(time.RFC3339Nano, s.Summary.Properties[SummaryPublishedAt]); err == nil {
			return t
		}
	}
	return time.UnixMilli(s.TimestampMs)
}

// ensureTable loads the table, creating it if missing, and adds the
// columns declared since it was created.
func (c *Catalog) ensureTable(ctx context.Context, t *schemas.Table) (*table.Table, error) {
	tbl, err := c.Load(ctx, t.ViewName())
	if errors.Is(err, catalog.ErrNoSuchTable) {
		tbl, err = c.create(ctx, t)
		if errors.Is(err, catalog.ErrTableAlreadyExists) {
			tbl, err = c.Load(ctx, t.ViewName()) // created beside us
		}
	}
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", t.ViewName(), err)
	}
	if tbl, err = c.evolve(ctx, tbl, t); err != nil {
		return nil, err
	}
	return ensureProperties(ctx, tbl)
}

// create creates the table of t, without snapshot.
func (c *Catalog) create(ctx context.Context, t *schemas.Table) (*table.Table, error) {
	sc := Schema(t)
	spec, err := Spec(t, sc)
	if err != nil {
		return nil, err
	}
	return c.cat.CreateTable(ctx, c.Ident(t.ViewName()), sc,
		catalog.WithPartitionSpec(&spec),
		catalog.WithLocation(c.location(t.ViewName())),
		catalog.WithProperties(tableProperties(ice.Properties{"format-version": "2"})))
}

// evolve adds the columns t declares that the table lacks.
func (c *Catalog) evolve(ctx context.Context, tbl *table.Table, t *schemas.Table) (*table.Table, error) {
	var missing []schemas.Column
	for _, col := range t.AllColumns() {
		if _, ok := tbl.Schema().FindFieldByName(col.Name); !ok {
			missing = append(missing, col)
		}
	}
	if len(missing) == 0 {
		return tbl, nil
	}
	txn := tbl.NewTransaction()
	u := txn.UpdateSchema(true, false)
	for _, col := range missing {
		u = u.AddColumn([]string{col.Name}, Type(col.Type), col.Doc, false, nil)
	}
	if err := u.Commit(); err != nil {
		return nil, fmt.Errorf("%s: adding columns: %w", t.ViewName(), err)
	}
	return txn.Commit(ctx)
}

// ensureProperties gives the table athlake's properties (a table made by
// an older version gets those added since), and a name mapping of its
// current schema: the ids the catalog gave at creation (it assigns them
// afresh) and those of columns added since.
func ensureProperties(ctx context.Context, tbl *table.Table) (*table.Table, error) {
	mapping, err := json.Marshal(tbl.Schema().NameMapping())
	if err != nil {
		return nil, err
	}
	set := ice.Properties{}
	for k, v := range tableProperties(ice.Properties{table.DefaultNameMappingKey: string(mapping)}) {
		if tbl.Properties()[k] != v {
			set[k] = v
		}
	}
	if len(set) == 0 {
		return tbl, nil
	}
	txn := tbl.NewTransaction()
	if err := txn.SetProperties(set); err != nil {
		return nil, err
	}
	return txn.Commit(ctx)
}

// tableProperties are the properties athlake keeps on its tables, and
// more.
func tableProperties(more ice.Properties) ice.Properties {
	p := ice.Properties{
		// The data files are the lake's: an engine's maintenance
		// (expire_snapshots, remove_orphan_files) must not delete them.
		// Iceberg's own switch for tables whose files others own
		// (expire removes snapshots without it: it deletes no file).
		gcEnabled: "false",
		// Every commit writes a metadata file, and each holds every
		// snapshot kept: keep the last 10 (2 or 3 commits a publish),
		// not iceberg-go's 100 or all of them.
		table.MetadataDeleteAfterCommitEnabledKey: "true",
		table.MetadataPreviousVersionsMaxKey:      "10",
		// A commit that loses to another's fails, and Publish starts
		// again from the table as it is: iceberg-go's own retry would
		// replay the lost commit onto the other's snapshot, with this
		// one's state and frontier in its summary.
		table.CommitNumRetriesKey: "0",
	}
	maps.Copy(p, more)
	return p
}

// stateDigest names the state w describes.
func stateDigest(w Want) string {
	h := sha256.New()
	for _, f := range slices.Sorted(slices.Values(w.Files)) {
		fmt.Fprintf(h, "f %s %d\n", f, w.Sizes[f])
		for _, x := range w.Hidden[f] {
			fmt.Fprintf(h, "%d,", x)
		}
		h.Write([]byte("\n"))
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// partition is a data or delete file's partition: its spec and values.
type partition struct {
	key    string
	specID int32
	values map[int]any
}

func partitionOf(df ice.DataFile) partition {
	vals := df.Partition()
	var b strings.Builder
	b.WriteString(strconv.Itoa(int(df.SpecID())))
	for _, id := range slices.Sorted(maps.Keys(vals)) {
		fmt.Fprintf(&b, "/%d=%v", id, vals[id])
	}
	return partition{key: b.String(), specID: df.SpecID(), values: vals}
}

// snapshotFiles are the live files of a snapshot.
type snapshotFiles struct {
	data    map[string]ice.DataFile
	deletes []deleteFile
	// manifests counts the snapshot's manifests, by content (data,
	// deletes).
	manifests map[ice.ManifestContent]int
}

type deleteFile struct {
	file ice.DataFile
	rows map[string][]int64 // data file path -> positions
}

func currentFiles(ctx context.Context, fs iceio.IO, tbl *table.Table) (*snapshotFiles, error) {
	out := &snapshotFiles{data: map[string]ice.DataFile{}, manifests: map[ice.ManifestContent]int{}}
	s := tbl.CurrentSnapshot()
	if s == nil {
		return out, nil
	}
	mfs, err := s.Manifests(fs)
	if err != nil {
		return nil, err
	}
	for _, mf := range mfs {
		out.manifests[mf.ManifestContent()]++
		entries, err := mf.FetchEntries(fs, true)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			df := e.DataFile()
			switch df.ContentType() {
			case ice.EntryContentData:
				out.data[df.FilePath()] = df
			case ice.EntryContentPosDeletes:
				rows, err := readDeletes(ctx, fs, df.FilePath())
				if err != nil {
					return nil, fmt.Errorf("%s: %w", df.FilePath(), err)
				}
				out.deletes = append(out.deletes, deleteFile{file: df, rows: rows})
			default:
				return nil, fmt.Errorf("%s: a delete file of content %s, which athlake does not write", df.FilePath(), df.ContentType())
			}
		}
	}
	return out, nil
}

// deleteSchema is the Arrow schema of a position delete file, with the
// field ids the Iceberg spec reserves for it.
var deleteSchema = arrow.NewSchema([]arrow.Field{
	{Name: "file_path", Type: arrow.BinaryTypes.String, Metadata: arrow.NewMetadata([]string{"PARQUET:field_id"}, []string{"2147483546"})},
	{Name: "pos", Type: arrow.PrimitiveTypes.Int64, Metadata: arrow.NewMetadata([]string{"PARQUET:field_id"}, []string{"2147483545"})},
}, nil)

// writeDeletes writes one position delete file for a partition's rows
// (sorted by file, then position, as the spec asks) under the table's
// location, and describes it.
func (c *Catalog) writeDeletes(ctx context.Context, tbl *table.Table, fs iceio.IO, part partition, rows map[string][]int64) (ice.DataFile, error) {
	wfs, ok := fs.(iceio.WriteFileIO)
	if !ok {
		return nil, errors.New("the table's file system is read-only")
	}
	mem := memory.DefaultAllocator
	b := array.NewRecordBuilder(mem, deleteSchema)
	defer b.Release()
	paths, pos := b.Field(0).(*array.StringBuilder), b.Field(1).(*array.Int64Builder)
	n := 0
	for _, p := range slices.Sorted(maps.Keys(rows)) {
		for _, x := range rows[p] {
			paths.Append(p)
			pos.Append(x)
			n++
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	var buf bytes.Buffer
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd), parquet.WithDictionaryDefault(true))
	fw, err := pqarrow.NewFileWriter(deleteSchema, &buf, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		return nil, err
	}
	if err := fw.Write(rec); err != nil {
		fw.Close()
		return nil, err
	}
	if err := fw.Close(); err != nil {
		return nil, err
	}
	rd, err := file.NewParquetReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		return nil, err
	}
	md := rd.MetaData()
	rd.Close()
	loc := strings.TrimSuffix(tbl.Location(), "/") + "/deletes/" + uuid.NewString() + ".parquet"
	if err := wfs.WriteFile(loc, buf.Bytes()); err != nil {
		return nil, err
	}
	spec := tbl.Metadata().PartitionSpecByID(int(part.specID))
	if spec == nil {
		return nil, fmt.Errorf("no partition spec %d", part.specID)
	}
	vals := part.values
	if len(vals) == 0 {
		vals = nil
	}
	return table.DataFileFromMetadata(table.DataFileArgs{
		Schema:          ice.PositionalDeleteSchema,
		Spec:            *spec,
		Format:          ice.ParquetFile,
		Metadata:        md,
		FilePath:        loc,
		FileSize:        int64(buf.Len()),
		Content:         ice.EntryContentPosDeletes,
		PartitionValues: vals,
		FormatVersion:   2,
		Properties:      tbl.Properties(),
	})
}

// readDeletes reads a position delete file.
func readDeletes(ctx context.Context, fs iceio.IO, p string) (map[string][]int64, error) {
	f, err := fs.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rd, err := file.NewParquetReader(f)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	fr, err := pqarrow.NewFileReader(rd, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		return nil, err
	}
	tb, err := fr.ReadTable(ctx)
	if err != nil {
		return nil, err
	}
	defer tb.Release()
	out := map[string][]int64{}
	tr := array.NewTableReader(tb, 0)
	defer tr.Release()
	for tr.Next() {
		rec := tr.RecordBatch()
		paths, ok1 := rec.Column(0).(*array.String)
		pos, ok2 := rec.Column(1).(*array.Int64)
		if !ok1 || !ok2 {
			return nil, errors.New("not a position delete file (file_path, pos)")
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			out[paths.Value(i)] = append(out[paths.Value(i)], pos.Value(i))
		}
	}
	return out, tr.Err()
}
