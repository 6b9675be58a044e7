// Package store puts evidence, log tiles, checkpoints and keys into object
// storage, write-once. One type, Bucket, owns every object key.
package store

import (
	"context"

	"errors"
	"fmt"
	"github.com/tickmark-dev/tickmark/collectors"
	"io"
	"log/slog"
	"strings"
)

var (
	// ErrNotFound is returned by Get for a missing key.
	ErrNotFound = errors.New("object not found")
	// ErrConflict is returned by Put when the key exists with other content.
	ErrConflict = errors.New("object exists with different content (write-once)")
	// ErrInvalidKey is returned by Put for a key the store cannot hold.
	// Retrying cannot help: the caller reports the object and goes on.
	ErrInvalidKey = errors.New("invalid object key")
)

// Store is object storage as tickmark needs it.
type Store interface {
	// Put writes body (size bytes, SHA-256 sum) under key, once. If key
	// already holds the same bytes Put succeeds without writing; if it holds
	// other bytes Put fails with ErrConflict. The body is checked against sum
	// while it is written.
	Put(ctx context.Context, key string, body io.Reader, size int64, sum [32]byte) error
	// Get opens an object.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// List calls fn for every key under prefix, in lexical order.
	List(ctx context.Context, prefix string, fn func(key string) error) error
	// Sync makes every completed Put durable.
	Sync(ctx context.Context) error
	// Describe names the store for messages ("filesystem /var/lib/...").
	Describe() string
	Close() error
}

// Factory opens a store from configuration.
type Factory func(ctx context.Context, cfg Config) (Store, error)

var factories = map[string]Factory{}

// RegisterType adds a store type. A duplicate panics.
func RegisterType(name string, f Factory) {
	if _, dup := factories[name]; dup {
		panic("store: type " + name + " registered twice")
	}
	factories[name] = f
}

// Open opens the configured store.
func Open(ctx context.Context, cfg Config) (Store, error) {
	f, ok := factories[cfg.Type]
	if !ok {
		return nil, fmt.Errorf("unknown store type %q", cfg.Type)
	}
	return f(ctx, cfg)
}

// Types lists the registered store types.
func Types() []string {
	var out []string
	for k := range factories {
		out = append(out, k)
	}
	return out
}

// Config is the `store:` section of the configuration.
type Config struct {
	Type string `yaml:"type"`
	// filesystem
	Path string `yaml:"path"`
	// s3
	Bucket          string             `yaml:"bucket"`
	Prefix          string             `yaml:"prefix"`
	Region          string             `yaml:"region"`
	Endpoint        string             `yaml:"endpoint"`
	PathStyle       bool               `yaml:"path_style"`
	AccessKeyID     *collectors.Secret `yaml:"access_key_id"`
	SecretAccessKey *collectors.Secret `yaml:"secret_access_key"`
	ObjectLock      *ObjectLock        `yaml:"object_lock"`
	SSE             *SSE               `yaml:"sse"`
	// Concurrency bounds parallel uploads (default 8).
	Concurrency int `yaml:"concurrency"`

	// Logger, if set, receives the store's own log lines (not from YAML).
	Logger *slog.Logger `yaml:"-"`
}

// ObjectLock is the retention applied to every object written.
type ObjectLock struct {
	Mode       string `yaml:"mode"` // COMPLIANCE or GOVERNANCE
	RetainDays int    `yaml:"retain_days"`
}

// SSE is server-side encryption.
type SSE struct {
	Type     string `yaml:"type"` // AES256 or aws:kms
	KMSKeyID string `yaml:"kms_key_id"`
}

// ReadAll reads a whole (small) object.
func ReadAll(ctx context.Context, s Store, key string) ([]byte, error) {
	rc, err := s.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func cleanPrefix(p string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}
