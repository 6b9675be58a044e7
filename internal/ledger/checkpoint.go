package ledger

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint is a signed tree head in the C2SP tlog-checkpoint format.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
	// Note is the signed note: the text and its signature lines.
	Note []byte
}

// FormatCheckpoint returns the checkpoint body text (origin, size, root).
// tlog.FormatTree hard-codes the Go checksum database's origin, so the
// lines are written here.
func FormatCheckpoint(origin string, size int64, root tlog.Hash) string {
	return origin + "\n" + strconv.FormatInt(size, 10) + "\n" + base64.StdEncoding.EncodeToString(root[:]) + "\n"
}

// ParseCheckpointText parses the checkpoint body (extension lines allowed).
func ParseCheckpointText(text string) (origin string, size int64, root tlog.Hash, err error) {
	lines := strings.Split(text, "\n")
	if len(lines) < 4 || lines[len(lines)-1] != "" {
		return "", 0, root, errors.New("checkpoint: need origin, size and root lines ending in a newline")
	}
	origin = lines[0]
	if origin == "" {
		return "", 0, root, errors.New("checkpoint: empty origin")
	}
	size, err = strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return "", 0, root, fmt.Errorf("checkpoint: bad tree size %q", lines[1])
	}
	h, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(h) != tlog.HashSize {
		return "", 0, root, fmt.Errorf("checkpoint: bad root hash %q", lines[2])
	}
	copy(root[:], h)
	return origin, size, root, nil
}

// OpenCheckpoint verifies a signed checkpoint note with the given keys and
// parses it. The origin must match.
func OpenCheckpoint(msg []byte, origin string, verifiers note.Verifiers) (*Checkpoint, error) {
	n, err := note.Open(msg, verifiers)
	if err != nil {
		var unk *note.UnknownVerifierError
		if errors.As(err, &unk) {
			return nil, fmt.Errorf("checkpoint signed by unknown key %s+%08x", unk.Name, unk.KeyHash)
		}
		return nil, fmt.Errorf("checkpoint signature: %w", err)
	}
	o, size, root, err := ParseCheckpointText(n.Text)
	if err != nil {
		return nil, err
	}
	if origin != "" && o != origin {
		return nil, fmt.Errorf("checkpoint origin %q, expected %q", o, origin)
	}
	return &Checkpoint{Origin: o, Size: size, Root: root, Note: msg}, nil
}

// KeyID returns the short ID of a verifier key ("<hash8>"), used in object keys.
func KeyID(vkey string) (string, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%08x", v.KeyHash()), nil
}

// Verifiers builds note verifiers from verifier key texts.
func Verifiers(vkeys ...string) (note.Verifiers, error) {
	var vs []note.Verifier
	for _, k := range vkeys {
		v, err := note.NewVerifier(strings.TrimSpace(k))
		if err != nil {
			return nil, fmt.Errorf("bad public key: %w", err)
		}
		vs = append(vs, v)
	}
	return note.VerifierList(vs...), nil
}

// Key is an agent's signing key.
type Key struct {
	Signer note.Signer
	// Verifier is the public key in note format ("name+hash+base64").
	Verifier string
	ID       string
}

// GenerateKey creates a key file at path (0600); it fails if one exists.
func GenerateKey(path, origin string) (*Key, error) {
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("a signing key already exists at %s", path)
		}
		return nil, err
	}
	if _, err := f.WriteString(skey + "\n"); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return loadKeyText(skey, vkey)
}

// LoadKey reads a key file. It refuses a key readable by group or others.
func LoadKey(path string) (*Key, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("signing key %s is readable by other users (mode %04o); run `chmod 600 %s`", path, st.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := note.NewSigner(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	vkey, err := verifierFromSigner(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, err
	}
	id, _ := KeyID(vkey)
	return &Key{Signer: s, Verifier: vkey, ID: id}, nil
}

func loadKeyText(skey, vkey string) (*Key, error) {
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, err
	}
	id, err := KeyID(vkey)
	if err != nil {
		return nil, err
	}
	return &Key{Signer: s, Verifier: vkey, ID: id}, nil
}

// verifierFromSigner derives the verifier text of an Ed25519 note key:
// "PRIVATE+KEY+<name>+<hash>+<base64(alg|seed)>".
func verifierFromSigner(skey string) (string, error) {
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		return "", errors.New("signing key: not a note private key")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 33 || raw[0] != 1 {
		return "", errors.New("signing key: not an Ed25519 note key")
	}
	pub := ed25519Public(raw[1:])
	vkey, err := note.NewEd25519VerifierKey(parts[2], pub)
	if err != nil {
		return "", err
	}
	return vkey, nil
}

// LoadOrCreateKey loads the key at path, generating one on first use.
func LoadOrCreateKey(path, origin string) (*Key, bool, error) {
	k, err := LoadKey(path)
	if err == nil {
		if k.Signer.Name() != origin {
			return nil, false, fmt.Errorf("signing key %s is for %q, not %q", path, k.Signer.Name(), origin)
		}
		return k, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	k, err = GenerateKey(path, origin)
	return k, err == nil, err
}

// Sign signs a checkpoint at the current size if it differs from the last
// checkpoint, stores it with the key, and returns the latest checkpoint.
func (l *Ledger) Sign(k *Key) (*Checkpoint, error) {
	var cp *Checkpoint
	err := l.db.Update(func(tx *bolt.Tx) error {
		size := int64(0)
		if key, _ := tx.Bucket(bucketRecords).Cursor().Last(); key != nil {
			size = int64(getU64(key)) + 1
		}
		cps := tx.Bucket(bucketCheckpoints)
		if key, v := cps.Cursor().Last(); key != nil && int64(getU64(key)) == size {
			if bytes.Contains(v, []byte("\n— "+k.Signer.Name()+" ")) {
				c, err := parseUnverified(v)
				cp = c
				return err
			}
		}
		root, err := tlog.TreeHash(size, HashReader{b: tx.Bucket(bucketHashes)})
		if err != nil {
			return err
		}
		msg, err := note.Sign(&note.Note{Text: FormatCheckpoint(l.origin, size, root)}, k.Signer)
		if err != nil {
			return err
		}
		if err := cps.Put(u64(uint64(size)), msg); err != nil {
			return err
		}
		if err := tx.Bucket(bucketKeys).Put([]byte(k.ID), []byte(k.Verifier)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketMeta).Put(metaCheckpointSignedAt, timeKey(l.now().UnixNano())); err != nil {
			return err
		}
		cp = &Checkpoint{Origin: l.origin, Size: size, Root: root, Note: msg}
		return nil
	})
	return cp, err
}

func parseUnverified(msg []byte) (*Checkpoint, error) {
	i := bytes.Index(msg, []byte("\n\n"))
	if i < 0 {
		return nil, errors.New("checkpoint: malformed signed note")
	}
	o, size, root, err := ParseCheckpointText(string(msg[:i+1]))
	if err != nil {
		return nil, err
	}
	return &Checkpoint{Origin: o, Size: size, Root: root, Note: bytes.Clone(msg)}, nil
}

// Checkpoints returns every stored checkpoint (unverified), oldest first.
func (l *Ledger) Checkpoints() ([]*Checkpoint, error) {
	var out []*Checkpoint
	err := l.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCheckpoints).ForEach(func(k, v []byte) error {
			c, err := parseUnverified(v)
			if err != nil {
				c = &Checkpoint{Size: int64(getU64(k)), Note: bytes.Clone(v)}
			}
			out = append(out, c)
			return nil
		})
	})
	return out, err
}

// Keys returns the public keys the ledger has signed with (ID -> verifier text).
func (l *Ledger) Keys() (map[string]string, error) {
	out := map[string]string{}
	err := l.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketKeys).ForEach(func(k, v []byte) error {
			out[string(k)] = string(v)
			return nil
		})
	})
	return out, err
}

// AddKey records a public key in the ledger's key history.
func (l *Ledger) AddKey(id, vkey string) error {
	return l.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketKeys).Put([]byte(id), []byte(vkey)) })
}

// LastCheckpoint returns the tree size of the latest checkpoint and when it
// was signed (zero for a checkpoint signed before this was recorded); ok is
// false when the ledger has no checkpoint.
func (l *Ledger) LastCheckpoint() (size int64, signedAt time.Time, ok bool, err error) {
	err = l.db.View(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bucketCheckpoints).Cursor().Last()
		if k == nil {
			return nil
		}
		size, ok = int64(getU64(k)), true
		if v := tx.Bucket(bucketMeta).Get(metaCheckpointSignedAt); v != nil {
			signedAt = time.Unix(0, int64(getU64(v))).UTC()
		}
		return nil
	})
	return size, signedAt, ok, err
}

// Published is the tree size of the latest checkpoint this ledger has
// published with its tiles (0: nothing published yet). A verifier holds
// the store to it: a store whose log ends earlier was rolled back.
func (l *Ledger) Published() (int64, error) {
	var n int64
	err := l.db.View(func(tx *bolt.Tx) error {
		n = int64(getU64(tx.Bucket(bucketMeta).Get(metaPublishedTiles)))
		return nil
	})
	return n, err
}
