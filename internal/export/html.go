package export

import (
	"fmt"
	"html"
	"io"
	"strings"
	"time"

	"github.com/tickmark-dev/tickmark/internal/evidence"
)

const pageStyle = `body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em;color:#1b1f24}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #d0d7de;padding:.25em .5em;font-size:.9em;text-align:left}
th{background:#f6f8fa}code{font-size:.85em}nav a{margin-right:1em}h2{margin-top:2em}`

func writeHTMLHead(w io.Writer, m *Manifest) error {
	fmt.Fprintf(w, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Evidence package %s</title><style>%s</style></head><body>\n", html.EscapeString(m.Agent), pageStyle)
	fmt.Fprintf(w, "<h1>Evidence package: agent %s</h1>\n", html.EscapeString(m.Agent))
	fmt.Fprintf(w, "<p>Evidence collected from %s to %s (UTC, end exclusive). %d records, %d evidence files, each with an inclusion proof against the signed checkpoint <a href=\"%s\">%s</a> (tree size %d, root <code>%s</code>).</p>\n",
		m.From.Format(time.RFC3339), m.To.Format(time.RFC3339), m.Records, m.Bodies, m.Checkpoint.File, m.Checkpoint.File, m.Checkpoint.Size, m.Checkpoint.Root)
	fmt.Fprintf(w, "<p>How to check this package: <a href=\"VERIFY.md\">VERIFY.md</a>. Every file: <a href=\"index.csv\">index.csv</a>, <a href=\"SHA256SUMS\">SHA256SUMS</a>, <a href=\"manifest.json\">manifest.json</a>. Public keys:")
	for _, k := range m.Keys {
		fmt.Fprintf(w, " <a href=\"keys/%s.pub\">%s</a>", html.EscapeString(k), html.EscapeString(k))
	}
	fmt.Fprintf(w, ".</p>\n<table><thead><tr><th>control</th><th>title</th><th>evidence files</th></tr></thead><tbody>\n")
	for _, c := range m.Controls {
		fmt.Fprintf(w, "<tr><td><a href=\"#%s\">%s</a></td><td>%s</td><td>%d</td></tr>\n", html.EscapeString(c.ID), html.EscapeString(c.ID), html.EscapeString(c.Title), c.Records)
	}
	_, err := fmt.Fprintf(w, "</tbody></table>\n")
	return err
}

func writeHTMLSection(w io.Writer, id, title string) {
	fmt.Fprintf(w, "<section id=\"%s\"><h2>%s</h2>", html.EscapeString(id), html.EscapeString(id))
	if title != "" {
		fmt.Fprintf(w, "<p>%s</p>", html.EscapeString(title))
	}
	fmt.Fprintf(w, "<table><thead><tr><th>collected (UTC)</th><th>type</th><th>subject</th><th>file</th><th>sha256</th><th>record</th><th>proof</th></tr></thead><tbody>\n")
}

func writeHTMLRow(w io.Writer, r *evidence.Record, name string) {
	fmt.Fprintf(w, "<tr><td>%s</td><td>%s</td><td>%s</td><td><a href=\"%s\">%s</a></td><td><code>%s</code></td><td><a href=\"%s\">%d</a></td><td><a href=\"%s\">proof</a></td></tr>\n",
		r.CollectedAt.UTC().Format(time.RFC3339), html.EscapeString(r.Type), html.EscapeString(r.Subject), html.EscapeString(name), html.EscapeString(name[strings.LastIndexByte(name, '/')+1:]), r.SHA256[:16], RecordFile(r.Seq), r.Seq, ProofFile(r.Seq))
}

func writeHTMLSectionEnd(w io.Writer, n int) {
	fmt.Fprintf(w, "</tbody></table><p>%d file%s</p></section>\n", n, plural(n))
}

const verifyMD = "# Verifying this evidence package\n" + `
This package was produced by tickmark (https://github.com/tickmark-dev/tickmark).
Every artifact in it is bound to a record, every record to a Merkle tree, and
the tree's root to a checkpoint signed with the agent's Ed25519 key. You can
check all of that offline, with or without tickmark.

## What is in the package

| path | what |
|---|---|
| ` + "`evidence/<control>/<yyyy-mm-dd>/<type>/<agent>-<seq>-<sha8>.<ext>`" + ` | the artifact bodies, exactly as collected, filed by control and collection date |
| ` + "`records/<seq>.json`" + ` | each artifact's record: its canonical JSON bytes are a leaf of the agent's log. ` + "`sha256`" + ` and ` + "`size`" + ` are the body's |
| ` + "`proofs/<seq>.tlog-proof`" + ` | an inclusion proof of the record in the latest checkpoint ([c2sp.org/tlog-proof](https://c2sp.org/tlog-proof): index, hashes from the leaf's sibling up, blank line, the signed checkpoint) |
| ` + "`checkpoints/<tree-size>.note`" + ` | every signed checkpoint up to the one the proofs use ([c2sp.org/tlog-checkpoint](https://c2sp.org/tlog-checkpoint) in a [signed note](https://c2sp.org/signed-note)); ` + "`.consistency`" + `: an RFC 6962 consistency proof that it is a prefix of the latest (lines: header, ` + "`old <size>`, `new <size>`" + `, base64 hashes); ` + "`.tsr`" + `: RFC 3161 timestamp tokens, if any |
| ` + "`keys/<key-id>.pub`" + ` | the agent's public keys (note verifier keys: ` + "`<name>+<key-id>+<base64>`" + `) |
| ` + "`index.csv`, `index.html`" + ` | one row per evidence file: control, type, subject, collected time, SHA-256, file |
| ` + "`manifest.json`" + ` | the window, the controls, the checkpoint the proofs use |
| ` + "`SHA256SUMS`" + ` | the SHA-256 of every other file |

## 1. Check the key (out of band)

The signatures prove the package came from whoever holds the agent's key, so
first confirm the key is the organisation's: compare the key ID (the file
name under ` + "`keys/`" + `, also after the ` + "`+`" + ` in the key) with the one the
organisation gave you separately, or with ` + "`log/<agent>/keys/`" + ` in its
evidence bucket.

## 2. With tickmark

    tickmark verify-package this-package.zip

It checks every file's hash, every checkpoint signature, that every
checkpoint is consistent with the latest (one append-only log), every
record's inclusion proof, and that every body matches its record, and names
the first item that fails (exit status 1).

## 3. Without tickmark

File integrity needs only coreutils:

    unzip this-package.zip && cd tickmark-*/ && sha256sum -c SHA256SUMS

A body matches its record when ` + "`sha256sum evidence/.../<file>`" + ` equals the
record's ` + "`sha256`" + ` (and its size the record's ` + "`size`" + `); the record's
sequence number is in the file name.

An inclusion proof is checked as in RFC 6962 section 2.1.1 (the same
construction as Certificate Transparency and the Go checksum database):

1. leaf = SHA-256(0x00 || bytes of records/<seq>.json)
2. walk the proof hashes upward, combining with SHA-256(0x01 || left || right),
   the side at each level given by the index's bits, to the tree size on the
   checkpoint's second line;
3. the result must equal the base64 root on the checkpoint's third line;
4. the checkpoint's signature line (` + "`— <name> <base64>`" + `) must verify with the
   key: the signature is Ed25519 over the checkpoint text (the lines before
   the blank line, with their final newline), and its first 4 bytes are the
   key ID.

Any implementation of C2SP tlog-proof and signed notes can do this, e.g. Go's
golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog (` + "`tlog.CheckRecord`" + `;
` + "`tlog.CheckTree`" + ` for the consistency proofs, RFC 6962 section 2.1.2).

## What a failure means

- a hash in SHA256SUMS does not match: the file changed after export;
- a body does not match its record: the artifact is not what was collected;
- a proof does not verify: the record is not the one the agent logged;
- a signature does not verify, or the key is not the organisation's: the
  checkpoint is not the agent's.
`
