package collectortest

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"net/url"
)

// SecretForm is one way a secret can appear in output.
type SecretForm struct {
	Name string // "raw", "url-escaped", "hex", "base64", "base64url"
	Text string
}

// SecretForms returns the forms in which a secret can leak into a log line,
// an artifact, a file or an error message: as it is, URL-escaped, as hex,
// and base64-encoded (standard and URL alphabets) at each of the three
// alignments, so that it is found inside a longer encoded value such as a
// Basic authorization header of "user:secret". Base64 and hex forms are
// only given for secrets of 8 bytes or more (shorter ones would match by
// chance).
func SecretForms(secret string) []SecretForm {
	if secret == "" {
		return nil
	}
	forms := []SecretForm{{"raw", secret}}
	if e := url.QueryEscape(secret); e != secret {
		forms = append(forms, SecretForm{"url-escaped", e})
	}
	if len(secret) < 8 {
		return forms
	}
	forms = append(forms, SecretForm{"hex", hex.EncodeToString([]byte(secret))})
	n := len(secret)
	for _, enc := range []struct {
		name string
		e    *base64.Encoding
	}{{"base64", base64.StdEncoding}, {"base64url", base64.URLEncoding}} {
		for k := 0; k < 3; k++ {
			s := enc.e.EncodeToString(append(make([]byte, k), secret...))
			// Only the characters made of the secret's bits alone.
			from, to := (8*k+5)/6, (8*(k+n))/6
			forms = append(forms, SecretForm{enc.name, s[from:to]})
		}
	}
	return forms
}

// FindSecret reports the first form of secret that data contains.
func FindSecret(data []byte, secret string) (SecretForm, bool) {
	for _, f := range SecretForms(secret) {
		if bytes.Contains(data, []byte(f.Text)) {
			return f, true
		}
	}
	return SecretForm{}, false
}
