package collectortest

import (
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"testing"
)

func TestFindSecret(t *testing.T) {
	const secret = "s3cr3t-t0ken/with+chars"
	for _, tc := range []struct {
		name, data, form string
	}{
		{"raw", "token=" + secret + "&x=1", "raw"},
		{"query", "GET /x?token=" + url.QueryEscape(secret), "url-escaped"},
		{"hex", "key " + hex.EncodeToString([]byte(secret)), "hex"},
		{"basic auth", "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("user:"+secret)), "base64"},
		{"basic auth, 1 byte", "Basic " + base64.StdEncoding.EncodeToString([]byte("a:"+secret)), "base64"},
		{"basic auth, 2 bytes", "Basic " + base64.StdEncoding.EncodeToString([]byte("ab:"+secret)), "base64"},
		{"url alphabet", base64.URLEncoding.EncodeToString([]byte("x:" + secret + "!")), ""}, // either alphabet may match
	} {
		f, ok := FindSecret([]byte(tc.data), secret)
		if !ok || (tc.form != "" && f.Name != tc.form) {
			t.Errorf("%s: found %v as %q, want %q", tc.name, ok, f.Name, tc.form)
		}
	}
	if f, ok := FindSecret([]byte("nothing to see: s3cr3t-t0ken/with"), secret); ok {
		t.Errorf("found %s in text without the secret", f.Name)
	}
}
