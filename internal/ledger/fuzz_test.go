package ledger

import (
	"bytes"
	"crypto/rand"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func FuzzOpenCheckpoint(f *testing.F) {
	skey, vkey, _ := note.GenerateKey(rand.Reader, "tickmark/fuzz")
	signer, _ := note.NewSigner(skey)
	vs, _ := Verifiers(vkey)
	msg, _ := note.Sign(&note.Note{Text: FormatCheckpoint("tickmark/fuzz", 7, tlog.Hash{1})}, signer)
	f.Add(msg)
	f.Add([]byte("tickmark/fuzz\n7\nAQ==\n\n— tickmark/fuzz AAAA\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cp, err := OpenCheckpoint(data, "tickmark/fuzz", vs)
		if err != nil {
			return
		}
		// A checkpoint that opens must carry our signature over exactly its text.
		if cp.Size < 0 || !bytes.HasPrefix(data, []byte("tickmark/fuzz\n")) {
			t.Fatalf("accepted %q", data)
		}
	})
}
