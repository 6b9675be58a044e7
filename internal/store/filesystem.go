package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

func init() {
	RegisterType("filesystem", func(_ context.Context, cfg Config) (Store, error) {
		return OpenFilesystem(cfg.Path)
	})
}

// Filesystem is the embedded default store: a folder with the bucket layout.
// Files are written to a temporary name and hard-linked into place, so an
// existing object is never replaced; Sync is one syncfs for the whole batch.
type Filesystem struct {
	root string
	dir  *os.File
	dirs sync.Map // directories known to exist

	noRenameat2 atomic.Bool
}

// OpenFilesystem opens (creating) a store rooted at path.
func OpenFilesystem(path string) (*Filesystem, error) {
	if path == "" {
		return nil, errors.New("filesystem store: path is empty")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("filesystem store: %w", err)
	}
	d, err := os.Open(abs)
	if err != nil {
		return nil, fmt.Errorf("filesystem store: %w", err)
	}
	return &Filesystem{root: abs, dir: d}, nil
}

// Root returns the store folder.
func (f *Filesystem) Root() string { return f.root }

// Describe names the store.
func (f *Filesystem) Describe() string { return "filesystem store " + f.root }

func (f *Filesystem) path(key string) (string, error) {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "..") || strings.Contains(key, "\\") {
		return "", fmt.Errorf("%w %q", ErrInvalidKey, key)
	}
	return filepath.Join(f.root, filepath.FromSlash(key)), nil
}

// Put writes once; see Store.
func (f *Filesystem) Put(ctx context.Context, key string, body io.Reader, size int64, sum [32]byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := f.path(key)
	if err != nil {
		return err
	}
	dir := filepath.Dir(p)
	if _, ok := f.dirs.Load(dir); !ok {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("put %s: %w", key, err)
		}
		f.dirs.Store(dir, true)
	}
	tmp := filepath.Join(dir, ".tmp-"+randHex())
	tf, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tf, h), body)
	if cerr := tf.Close(); err == nil {
		err = cerr
	}
	if err == nil && (n != size || !bytes.Equal(h.Sum(nil), sum[:])) {
		err = fmt.Errorf("body does not match its record (%d bytes, sha256 %x; expected %d bytes, %x)", n, h.Sum(nil), size, sum)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("put %s: %w", key, err)
	}
	// Move into place without ever replacing an existing object.
	err = f.placeNoReplace(tmp, p)
	if errors.Is(err, fs.ErrExist) {
		os.Remove(tmp)
		if ok, _ := sameContent(p, sum); ok {
			return nil // already there: an idempotent retry
		}
		return fmt.Errorf("put %s: %w", key, ErrConflict)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// placeNoReplace renames tmp to p unless p exists (renameat2
// RENAME_NOREPLACE: one atomic step), falling back to link+unlink on file
// systems without it.
func (f *Filesystem) placeNoReplace(tmp, p string) error {
	if !f.noRenameat2.Load() {
		err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, p, unix.RENAME_NOREPLACE)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EEXIST):
			return fs.ErrExist
		case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS):
			f.noRenameat2.Store(true)
		default:
			return err
		}
	}
	if err := os.Link(tmp, p); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fs.ErrExist
		}
		return err
	}
	return os.Remove(tmp)
}

func sameContent(p string, sum [32]byte) (bool, error) {
	fh, err := os.Open(p)
	if err != nil {
		return false, err
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return false, err
	}
	return bytes.Equal(h.Sum(nil), sum[:]), nil
}

func randHex() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Get opens an object.
func (f *Filesystem) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := f.path(key)
	if err != nil {
		return nil, err
	}
	fh, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return fh, err
}

// List walks keys under prefix in lexical order.
func (f *Filesystem) List(ctx context.Context, prefix string, fn func(key string) error) error {
	// Start from the deepest directory the prefix names.
	dirPart := prefix
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		dirPart = prefix[:i]
	} else {
		dirPart = ""
	}
	start := f.root
	if dirPart != "" {
		p, err := f.path(dirPart)
		if err != nil {
			return err
		}
		start = p
	}
	return f.walk(ctx, start, prefix, fn)
}

func (f *Filesystem) walk(ctx context.Context, dir, prefix string, fn func(string) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	// Lexical order of full keys: a directory "a" sorts as "a/".
	names := make([]string, 0, len(ents))
	isDir := map[string]bool{}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			continue
		}
		n := e.Name()
		if e.IsDir() {
			n += "/"
			isDir[n] = true
		}
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		full := filepath.Join(dir, strings.TrimSuffix(n, "/"))
		rel, _ := filepath.Rel(f.root, full)
		key := filepath.ToSlash(rel)
		if isDir[n] {
			k := key + "/"
			if !strings.HasPrefix(k, prefix) && !strings.HasPrefix(prefix, k) {
				continue
			}
			if err := f.walk(ctx, full, prefix, fn); err != nil {
				return err
			}
			continue
		}
		if !strings.HasPrefix(key, prefix) {
			continue
		}
		if err := fn(key); err != nil {
			return err
		}
	}
	return nil
}

// Sync flushes the file system holding the store (one syncfs for every
// file written since the last Sync).
func (f *Filesystem) Sync(ctx context.Context) error {
	if err := unix.Syncfs(int(f.dir.Fd())); err != nil {
		return fmt.Errorf("filesystem store: syncfs: %w", err)
	}
	return nil
}

// Close releases the store.
func (f *Filesystem) Close() error { return f.dir.Close() }
