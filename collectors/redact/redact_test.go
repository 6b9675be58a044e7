package redact_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/redact"
)

const secret = "s3cr3t/Tok+en=value&x y"

func TestEveryEncodingIsScrubbed(t *testing.T) {
	r := redact.New(secret, "short")
	b64 := func(e *base64.Encoding, s string) string { return e.EncodeToString([]byte(s)) }
	for name, text := range map[string]string{
		"plain":             "login failed with " + secret + " (401)",
		"base64":            "token=" + b64(base64.StdEncoding, secret),
		"base64 raw url":    "t=" + b64(base64.RawURLEncoding, secret),
		"basic auth user:":  "Authorization: Basic " + b64(base64.StdEncoding, "svc:"+secret),
		"basic auth u:":     "Authorization: Basic " + b64(base64.StdEncoding, "u:"+secret),
		"basic auth ab:":    "Authorization: Basic " + b64(base64.StdEncoding, "ab:"+secret+"\n"),
		"query-escaped":     "GET /api?token=" + url.QueryEscape(secret),
		"path-escaped":      "GET /api/" + url.PathEscape(secret) + "/x",
		"json":              `{"error":"bad token \"` + strings.ReplaceAll(secret, "&", `\u0026`) + `\""}`,
		"hex":               "key " + hex.EncodeToString([]byte(secret)),
		"twice, two shapes": secret + " then " + b64(base64.StdEncoding, secret),
	} {
		got := r.String(text)
		if strings.Contains(got, secret) || !strings.Contains(got, redact.Mask) {
			t.Errorf("%s: %q -> %q", name, text, got)
		}
		for _, enc := range []string{b64(base64.RawStdEncoding, secret)[:12], url.QueryEscape(secret), hex.EncodeToString([]byte(secret))[:16]} {
			if strings.Contains(got, enc) {
				t.Errorf("%s: %q still holds %q", name, got, enc)
			}
		}
	}
	if got := r.String("a short word"); got != "a short word" {
		t.Errorf("a value under MinLen masked ordinary text: %q", got)
	}
	var nilR *redact.Redactor
	if nilR.String(secret) != secret || redact.New().String("x") != "x" {
		t.Errorf("an empty redactor changed text")
	}
}

func TestErrorKeepsClassification(t *testing.T) {
	r := redact.New(secret)
	base := collectors.Retryable(fmt.Errorf("exec: failed; stderr: %s", secret))
	err := r.Error(base)
	if strings.Contains(err.Error(), secret) || !collectors.IsRetryable(err) || !errors.Is(err, base) {
		t.Errorf("scrubbed error %q: retryable %v", err, collectors.IsRetryable(err))
	}
}

func TestHandlerScrubsMessagesAndAttributes(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(redact.Handler(slog.NewJSONHandler(&buf, nil), redact.New(secret)))
	log = log.With("token", secret).WithGroup("g")
	log.Error("bad "+secret, "err", errors.New("x "+secret), "body", []byte(secret), "n", 3, slog.Group("h", "v", secret))
	if bytes.Contains(buf.Bytes(), []byte(secret)) || !bytes.Contains(buf.Bytes(), []byte(`"n":3`)) {
		t.Errorf("log line: %s", buf.Bytes())
	}
}

func TestBound(t *testing.T) {
	s := strings.Repeat("é", 100)
	b := redact.Bound(s, 51)
	if len(b) > 51 || !strings.HasSuffix(b, "[truncated]") || !utf8Valid(b) {
		t.Errorf("Bound = %q (%d bytes)", b, len(b))
	}
	if redact.Bound("short", 51) != "short" {
		t.Error("a short string was cut")
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }
