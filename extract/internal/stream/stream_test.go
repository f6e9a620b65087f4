package stream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/schemas"
)

// TestFingerprintFormat: the bytes hashed are those the vendors hashed
// before the fingerprint was shared, so states written then still match.
func TestFingerprintFormat(t *testing.T) {
	f := NewFingerprint()
	f.Group("g1", []json.RawMessage{json.RawMessage(`{"id":"a"}`)})
	f.Add(json.RawMessage(`{}`))
	want := sha256.Sum256([]byte("2:g1\n" + `10:{"id":"a"}2:{}`))
	if got := f.Sum(); got != hex.EncodeToString(want[:]) {
		t.Errorf("Sum = %s, want %x", got, want)
	}
}

// TestForgetFingerprint: a fingerprint is forgotten by a synced state
// without it; none to forget emits nothing.
func TestForgetFingerprint(t *testing.T) {
	st := struct{ Fingerprint string }{"old"}
	var got []*pipeline.Batch
	emit := func(_ context.Context, b *pipeline.Batch) error {
		got = append(got, b)
		return nil
	}
	for range 2 {
		if err := ForgetFingerprint(context.Background(), emit, &st.Fingerprint, func() []byte { return JSON(st) }); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 1 || !got[0].Sync || string(got[0].State) != `{"Fingerprint":""}` {
		t.Errorf("emitted %+v, want one synced batch with the fingerprint cleared", got)
	}
}

func TestReadState(t *testing.T) {
	v := struct{ A int }{A: 7}
	if err := ReadState(nil, &v); err != nil || v.A != 7 {
		t.Errorf("ReadState(nil) = %v, left %+v", err, v)
	}
	if err := ReadState([]byte(`{"A":3}`), &v); err != nil || v.A != 3 {
		t.Errorf("ReadState = %v, got %+v", err, v)
	}
	if err := ReadState([]byte(`{`), &v); err == nil || !strings.HasPrefix(err.Error(), "reading state: ") {
		t.Errorf("ReadState(bad) = %v", err)
	}
}

func TestTableUndeclaredPanics(t *testing.T) {
	defer func() {
		if r := recover(); r != "plyomat: table nope not declared" {
			t.Errorf("recovered %v", r)
		}
	}()
	reg, err := schemas.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	Table(reg, "plyomat", "nope")
	t.Error("no panic")
}
