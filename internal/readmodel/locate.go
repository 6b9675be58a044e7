package readmodel

import (
	"net/url"
	"path/filepath"

	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/store"
)

// Locator returns the function that turns an object key into a location
// for people: a file:// URL into a filesystem store at path, an s3:// URL
// into bucket otherwise ("" for an unknown store type).
func Locator(storeType, path, bucket string) func(key string) string {
	return func(key string) string {
		switch storeType {
		case "filesystem":
			p, err := filepath.Abs(filepath.Join(path, filepath.FromSlash(key)))
			if err != nil {
				return ""
			}
			return (&url.URL{Scheme: "file", Path: filepath.ToSlash(p)}).String()
		case "s3":
			return "s3://" + bucket + "/" + key
		}
		return ""
	}
}

// locate is the location of r's body under its first control.
func locate(fn func(string) string, l store.Layout, r *evidence.Record) string {
	if fn == nil || len(r.Controls) == 0 {
		return ""
	}
	return fn(l.Evidence(r.Controls[0], r))
}
