package export_test

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/tickmark-dev/tickmark/internal/controls/controlstest"
	"github.com/tickmark-dev/tickmark/internal/export"
	"github.com/tickmark-dev/tickmark/internal/readmodel"
)

func fuzzPackage(f *testing.F) []byte {
	b, err := controlstest.Build(context.Background(), plan(f.TempDir(), "a"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(b.Close)
	var buf bytes.Buffer
	src := &readmodel.Ledger{L: b.Ledger, Bucket: b.Bucket}
	if _, err := export.Write(context.Background(), &buf, src, export.Options{From: date("2026-03-01"), To: date("2026-03-04")}); err != nil {
		f.Fatal(err)
	}
	return buf.Bytes()
}

func zipContents(b []byte) map[string]string {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			return nil
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil
		}
		out[f.Name] = string(data)
	}
	return out
}

// FuzzVerifyPackageMutation flips bytes of a valid package: whatever
// verifies must hold exactly the original files (changes confined to zip
// metadata that carries no evidence are harmless; changes to any file are not).
func FuzzVerifyPackageMutation(f *testing.F) {
	pkg := fuzzPackage(f)
	orig := zipContents(pkg)
	f.Add(uint32(40), byte(1))
	f.Add(uint32(len(pkg)/2), byte(0x80))
	f.Add(uint32(len(pkg)-30), byte(0xff))
	f.Fuzz(func(t *testing.T, off uint32, x byte) {
		if x == 0 {
			return
		}
		m := bytes.Clone(pkg)
		m[int(off)%len(m)] ^= x
		rep, err := export.VerifyPackage(bytes.NewReader(m), int64(len(m)))
		if err != nil || !rep.OK {
			return
		}
		got := zipContents(m)
		if len(got) != len(orig) {
			t.Fatalf("a package with %d files instead of %d verified", len(got), len(orig))
		}
		for name, c := range orig {
			if got[name] != c {
				t.Fatalf("a package whose %s was altered verified", name)
			}
		}
	})
}

// FuzzVerifyPackageBytes: arbitrary bytes never panic the verifier.
func FuzzVerifyPackageBytes(f *testing.F) {
	f.Add([]byte("PK\x03\x04"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := export.VerifyPackage(bytes.NewReader(data), int64(len(data)))
		if err == nil && rep.OK {
			t.Fatalf("random bytes verified as a package")
		}
	})
}

// FuzzParseProof: proofs that parse re-format to the same bytes.
func FuzzParseProof(f *testing.F) {
	f.Add(export.FormatProof(3, tlog.RecordProof{{1}, {2}}, []byte("tickmark/a\n4\nAAAA\n\n— tickmark/a x\n")))
	f.Add(export.FormatConsistency(2, 5, tlog.TreeProof{{7}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		if i, p, cp, err := export.ParseProof(data); err == nil {
			if !bytes.Equal(export.FormatProof(i, p, cp), data) {
				t.Fatalf("proof does not round-trip")
			}
		}
		if o, n, p, err := export.ParseConsistency(data); err == nil {
			if !bytes.Equal(export.FormatConsistency(o, n, p), data) {
				t.Fatalf("consistency proof does not round-trip")
			}
		}
	})
}
