package ledger

import "encoding/binary"

// SchemaVersion is the version of the bucket layout below. Open refuses a
// ledger written by a newer version.
const SchemaVersion = 1

// File and folder names under the data dir.
const (
	DBFile     = "ledger.db"
	SpoolDir   = "spool"
	KeyFile    = "signing.key"
	segmentExt = ".seg"
)

// Buckets. Every key in the ledger is declared here.
var (
	// bucketMeta: metaSchema, metaAgent, metaOrigin, metaPublishedTiles, metaPublishedCheckpoint,
	// metaCheckpointSignedAt.
	bucketMeta = []byte("meta")
	// bucketRecords: seq (u64 BE) -> canonical record bytes (a Merkle leaf).
	bucketRecords = []byte("records")
	// bucketHashes: tlog stored-hash index (u64 BE) -> 32-byte hash.
	bucketHashes = []byte("hashes")
	// bucketIdxTime: collected_at ns (u64 BE) | seq -> nil.
	bucketIdxTime = []byte("idx_time")
	// bucketIdxControl: control | 0x00 | collected_at ns | seq -> nil.
	bucketIdxControl = []byte("idx_control")
	// bucketIdxType: evidence type | 0x00 | collected_at ns | seq -> nil.
	bucketIdxType = []byte("idx_type")
	// bucketIdxSHA: body sha256 (32 bytes) | seq -> nil, written when the body is pushed.
	bucketIdxSHA = []byte("idx_sha256")
	// bucketOutbox: seq -> spool location of a body not yet in the store.
	bucketOutbox = []byte("outbox")
	// bucketCursors: collector instance name -> cursor. Owned by the engine.
	bucketCursors = []byte("cursors")
	// bucketRuns: instance | 0x00 | started ns -> run JSON.
	bucketRuns = []byte("runs")
	// bucketCheckpoints: tree size (u64 BE) -> signed note.
	bucketCheckpoints = []byte("checkpoints")
	// bucketTokens: tree size (u64 BE) -> RFC 3161 timestamp token over the checkpoint.
	bucketTokens = []byte("timestamps")
	// bucketKeys: key hash (8 hex) -> verifier key text (note format).
	bucketKeys = []byte("keys")

	// bucketAnnouncements: new key ID -> key announcement note signed by
	// the old and the new key (see rotate.go).
	bucketAnnouncements = []byte("key_announcements")

	// bucketCheckpointTimes: tree size (u64 BE) -> when the checkpoint was
	// signed (ns since the epoch, u64 BE); read by `tickmark status`.
	bucketCheckpointTimes = []byte("checkpoint_times")

	allBuckets = [][]byte{bucketMeta, bucketRecords, bucketHashes, bucketIdxTime, bucketIdxControl,
		bucketIdxType, bucketIdxSHA, bucketOutbox, bucketCursors, bucketRuns, bucketCheckpoints, bucketTokens, bucketKeys, bucketAnnouncements,
		bucketCheckpointTimes}
)

// Meta keys.
var (
	metaSchema              = []byte("schema")
	metaAgent               = []byte("agent")
	metaOrigin              = []byte("origin")
	metaPublishedTiles      = []byte("published_tiles")
	metaPublishedCheckpoint = []byte("published_checkpoint")
	// metaCheckpointSignedAt: when the latest checkpoint was signed (ns, u64 BE).
	metaCheckpointSignedAt = []byte("checkpoint_signed_at")
)

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func getU64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// timeKey is ns since the epoch as a sortable big-endian integer
// (times before 1970 sort as 0).
func timeKey(ns int64) []byte {
	if ns < 0 {
		ns = 0
	}
	return u64(uint64(ns))
}

func idxKey(prefix string, ns int64, seq uint64) []byte {
	k := make([]byte, 0, len(prefix)+1+16)
	k = append(k, prefix...)
	k = append(k, 0)
	k = append(k, timeKey(ns)...)
	k = append(k, u64(seq)...)
	return k
}
