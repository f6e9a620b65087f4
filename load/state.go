package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sync"
	"time"

	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/pipeline"
)

// StateVersion is the version of the state file format.
const StateVersion = 1

// stateFile is the format of _state/<source>.json. Stream states are owned by
// their streams and kept verbatim.
type stateFile struct {
	Version   int                        `json:"version"`
	Source    string                     `json:"source"`
	UpdatedAt time.Time                  `json:"updated_at"`
	Streams   map[string]json.RawMessage `json:"streams"`
}

// StateStore keeps stream state as versioned JSON documents in the store.
// Every save is a compare-and-swap on the version read or written last
// (If-Match on S3): if anything else wrote the state meanwhile, the save
// fails with pipeline.ErrLockLost instead of overwriting it.
type StateStore struct {
	Store store.Store
	Now   func() time.Time

	mu       sync.Mutex
	versions map[string]string // per source; "" = did not exist
}

func (s *StateStore) setVersion(source, v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.versions == nil {
		s.versions = map[string]string{}
	}
	s.versions[source] = v
}

func (s *StateStore) version(source string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.versions[source]
}

func stateKey(source string) string { return path.Join(StateDir, source+".json") }

// Load returns the stream states of a source (empty when it never ran).
func (s *StateStore) Load(ctx context.Context, source string) (map[string][]byte, error) {
	b, v, err := s.Store.Get(ctx, stateKey(source))
	if errors.Is(err, store.ErrNotFound) {
		s.setVersion(source, "")
		return map[string][]byte{}, nil
	}
	if err != nil {
		return nil, err
	}
	s.setVersion(source, v)
	var f stateFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", stateKey(source), err)
	}
	if f.Version != StateVersion {
		return nil, fmt.Errorf("%s: state version %d, this athlake reads version %d", stateKey(source), f.Version, StateVersion)
	}
	out := make(map[string][]byte, len(f.Streams))
	for k, v := range f.Streams {
		var b bytes.Buffer
		if err := json.Compact(&b, v); err != nil {
			return nil, fmt.Errorf("%s: stream %s: %w", stateKey(source), k, err)
		}
		out[k] = b.Bytes()
	}
	return out, nil
}

// Save writes the stream states of a source atomically, if the state is
// still the one this store read or wrote last.
func (s *StateStore) Save(ctx context.Context, source string, streams map[string][]byte) error {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	f := stateFile{Version: StateVersion, Source: source, UpdatedAt: now().UTC(), Streams: map[string]json.RawMessage{}}
	for k, v := range streams {
		f.Streams[k] = v
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	v, err := s.Store.PutIf(ctx, stateKey(source), append(b, '\n'), s.version(source))
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("%s was written by another run: %w", stateKey(source), pipeline.ErrLockLost)
	}
	if err != nil {
		return err
	}
	s.setVersion(source, v)
	return nil
}
