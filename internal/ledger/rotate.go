package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/note"
)

// A key announcement is a signed note, signed by the outgoing key and by the
// incoming one, that hands the log over to a new key:
//
//	tickmark key rotation
//	<origin>
//	<tree size at rotation>
//	old <verifier key>
//	new <verifier key>
//
// Checkpoints up to the rotation stay verifiable with the old key (kept in
// the key history); later ones are signed by the new key, which a verifier
// trusts because the old key announced it.
const announceHeader = "tickmark key rotation"

// Announcement is a parsed, verified key announcement.
type Announcement struct {
	Origin string
	Size   int64
	Old    string
	New    string
	Note   []byte
}

// FormatAnnouncement returns the announcement text.
func FormatAnnouncement(origin string, size int64, oldVKey, newVKey string) string {
	return fmt.Sprintf("%s\n%s\n%d\nold %s\nnew %s\n", announceHeader, origin, size, oldVKey, newVKey)
}

// OpenAnnouncement verifies an announcement: it must carry valid
// signatures by both the old and the new key it names.
func OpenAnnouncement(msg []byte) (*Announcement, error) {
	i := bytes.Index(msg, []byte("\n\n"))
	if i < 0 {
		return nil, errors.New("key announcement: malformed note")
	}
	lines := strings.Split(string(msg[:i]), "\n")
	if len(lines) != 5 || lines[0] != announceHeader || !strings.HasPrefix(lines[3], "old ") || !strings.HasPrefix(lines[4], "new ") {
		return nil, errors.New("key announcement: unexpected text")
	}
	size, err := strconv.ParseInt(lines[2], 10, 64)
	if err != nil || size < 0 {
		return nil, errors.New("key announcement: bad tree size")
	}
	a := &Announcement{Origin: lines[1], Size: size, Old: strings.TrimPrefix(lines[3], "old "), New: strings.TrimPrefix(lines[4], "new "), Note: bytes.Clone(msg)}
	for _, k := range []string{a.Old, a.New} {
		vs, err := Verifiers(k)
		if err != nil {
			return nil, fmt.Errorf("key announcement: %w", err)
		}
		n, err := note.Open(msg, vs)
		if err != nil {
			return nil, fmt.Errorf("key announcement: signature by %s: %w", k, err)
		}
		if len(n.Sigs) == 0 {
			return nil, errors.New("key announcement: unsigned")
		}
	}
	return a, nil
}

// Rotate replaces the agent's signing key: it generates a new key, records
// an announcement signed by the old and the new key in the ledger, keeps the
// old public key in the key history, retires the old private key file
// (renamed, mode 0600) and puts the new one in its place.
func (l *Ledger) Rotate(keyPath string) (old, newKey *Key, err error) {
	old, err = LoadKey(keyPath)
	if err != nil {
		return nil, nil, fmt.Errorf("current signing key: %w", err)
	}
	tmp := keyPath + ".new"
	os.Remove(tmp)
	newKey, err = GenerateKey(tmp, l.origin)
	if err != nil {
		return nil, nil, err
	}
	size := l.Size()
	msg, err := note.Sign(&note.Note{Text: FormatAnnouncement(l.origin, size, old.Verifier, newKey.Verifier)}, old.Signer, newKey.Signer)
	if err != nil {
		return nil, nil, err
	}
	err = l.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketKeys).Put([]byte(old.ID), []byte(old.Verifier)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketKeys).Put([]byte(newKey.ID), []byte(newKey.Verifier)); err != nil {
			return err
		}
		b, err := tx.CreateBucketIfNotExists(bucketAnnouncements)
		if err != nil {
			return err
		}
		return b.Put([]byte(newKey.ID), msg)
	})
	if err != nil {
		os.Remove(tmp)
		return nil, nil, err
	}
	retired := filepath.Join(filepath.Dir(keyPath), "retired-"+old.ID+".key")
	if err := os.Rename(keyPath, retired); err != nil {
		return nil, nil, err
	}
	if err := os.Rename(tmp, keyPath); err != nil {
		return nil, nil, err
	}
	return old, newKey, nil
}

// Announcements returns the stored key announcements by new key ID.
func (l *Ledger) Announcements() (map[string][]byte, error) {
	out := map[string][]byte{}
	err := l.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAnnouncements)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			out[string(k)] = bytes.Clone(v)
			return nil
		})
	})
	return out, err
}

// TrustedKeys returns the verifier keys reachable from the first key by
// announcements, and problems found on the way. first is the key that
// signed the earliest checkpoint.
func TrustedKeys(first string, announcements [][]byte) ([]string, []error) {
	trusted := map[string]bool{first: true}
	order := []string{first}
	var anns []*Announcement
	var errs []error
	for _, m := range announcements {
		a, err := OpenAnnouncement(m)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		anns = append(anns, a)
	}
	for changed := true; changed; {
		changed = false
		for _, a := range anns {
			if trusted[a.Old] && !trusted[a.New] {
				trusted[a.New] = true
				order = append(order, a.New)
				changed = true
			}
		}
	}
	for _, a := range anns {
		if !trusted[a.Old] {
			errs = append(errs, fmt.Errorf("key announcement for %s is signed by a key the log never trusted", a.New))
		}
	}
	return order, errs
}
