package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/tickmark-dev/tickmark/internal/s3test"
	"github.com/tickmark-dev/tickmark/internal/store"
)

// conformance is what every store type must do, run against each one
// (restore's backend tests are the model).
func conformance(t *testing.T, st store.Store) {
	ctx := context.Background()
	t.Run("put-get", func(t *testing.T) {
		body := []byte(`{"a":1}`)
		if err := put(t, st, "soc2/c/put-get.json", body); err != nil {
			t.Fatal(err)
		}
		got, err := store.ReadAll(ctx, st, "soc2/c/put-get.json")
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("Get = %q, %v", got, err)
		}
	})
	t.Run("missing-is-ErrNotFound", func(t *testing.T) {
		if _, err := st.Get(ctx, "soc2/c/never-written"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get of a missing key = %v, want ErrNotFound", err)
		}
	})
	t.Run("write-once", func(t *testing.T) {
		key := "soc2/c/once.json"
		if err := put(t, st, key, []byte("first")); err != nil {
			t.Fatal(err)
		}
		if err := put(t, st, key, []byte("first")); err != nil {
			t.Fatalf("same bytes again = %v, want success", err)
		}
		if err := put(t, st, key, []byte("second")); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("other bytes = %v, want ErrConflict", err)
		}
		if got, _ := store.ReadAll(ctx, st, key); string(got) != "first" {
			t.Fatalf("object now holds %q", got)
		}
	})
	t.Run("body-checked-against-sum", func(t *testing.T) {
		body := []byte("actual")
		err := st.Put(ctx, "soc2/c/bad-sum", bytes.NewReader(body), int64(len(body)), sha256.Sum256([]byte("claimed")))
		if err == nil {
			t.Fatal("Put with the wrong SHA-256 succeeded")
		}
		if _, err := st.Get(ctx, "soc2/c/bad-sum"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after a rejected Put, Get = %v, want ErrNotFound", err)
		}
	})
	t.Run("non-seekable-body", func(t *testing.T) {
		body := []byte(strings.Repeat("stream ", 1000))
		r := io.MultiReader(bytes.NewReader(body)) // hides Seek
		if err := st.Put(ctx, "soc2/c/stream", r, int64(len(body)), sha256.Sum256(body)); err != nil {
			t.Fatal(err)
		}
		if got, _ := store.ReadAll(ctx, st, "soc2/c/stream"); !bytes.Equal(got, body) {
			t.Fatal("streamed body read back differently")
		}
	})
	t.Run("list-lexical-under-prefix", func(t *testing.T) {
		for _, k := range []string{"soc2/l/b/2", "soc2/l/a/1", "soc2/l/a/10", "soc2/l/a0", "soc2/lx"} {
			if err := put(t, st, k, []byte(k)); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		if err := st.List(ctx, "soc2/l/", func(k string) error { got = append(got, k); return nil }); err != nil {
			t.Fatal(err)
		}
		if want := "[soc2/l/a/1 soc2/l/a/10 soc2/l/a0 soc2/l/b/2]"; fmt.Sprint(got) != want {
			t.Fatalf("List = %v, want %s", got, want)
		}
	})
	t.Run("sync", func(t *testing.T) {
		if err := st.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("cancelled-context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := st.Put(cctx, "soc2/c/cancelled", bytes.NewReader([]byte("x")), 1, sha256.Sum256([]byte("x"))); err == nil {
			t.Fatal("Put with a cancelled context succeeded")
		}
	})
}

func TestFilesystemConformance(t *testing.T) {
	st, err := store.OpenFilesystem(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	conformance(t, st)
}

func TestS3Conformance(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "evidence", true)
	for _, mode := range []string{"if-none-match", "head"} {
		t.Run(mode, func(t *testing.T) {
			cfg := s3Config(t, srv, "evidence", true)
			cfg.Prefix = mode
			st := openS3(t, cfg, store.S3Options{ConditionalWrites: mode})
			conformance(t, &prefixed{Store: st, prefix: mode + "/"})
		})
	}
}

// prefixed runs two conformance passes in one bucket without sharing keys.
type prefixed struct {
	store.Store
	prefix string
}

func (p *prefixed) Put(ctx context.Context, key string, body io.Reader, size int64, sum [32]byte) error {
	return p.Store.Put(ctx, p.prefix+key, body, size, sum)
}

func (p *prefixed) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	return p.Store.Get(ctx, p.prefix+key)
}

func (p *prefixed) List(ctx context.Context, prefix string, fn func(string) error) error {
	return p.Store.List(ctx, p.prefix+prefix, func(k string) error { return fn(strings.TrimPrefix(k, p.prefix)) })
}
