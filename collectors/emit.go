package collectors

import "fmt"

// CheckArtifact is the emit contract: why the engine refuses an artifact,
// or nil. The engine applies it to every artifact before anything is
// spooled or signed, `tickmark collectors test` (the dry run) applies it to
// what it shows, and the conformance kit (collectortest) to what a
// collector emits, so a collector that passes the kit is not refused in
// production for its names.
//
// controls are the control IDs the artifact will be filed under: the
// artifact's own, else its evidence type's defaults, overridden by the
// instance's `controls` configuration. An empty list is refused (nothing
// to file it under). nil means the caller cannot know the instance's
// configuration (the conformance kit): then the artifact's own controls
// are checked and an artifact without any is let through.
//
// The rules for each name are ValidEvidenceType, ValidSubject and
// ValidControlID. Errors are Permanent: the same artifact fails the same
// way on every retry.
func CheckArtifact(a Artifact, controls []string) error {
	if err := ValidEvidenceType(a.Type); err != nil {
		return Permanent(err)
	}
	if err := ValidSubject(a.Subject); err != nil {
		return Permanent(fmt.Errorf("artifact %s: %w", a.Type, err))
	}
	if controls == nil {
		controls = a.Controls
	} else if len(controls) == 0 {
		return Permanent(fmt.Errorf("evidence type %s has no controls: map it in collectors[].controls (e.g. %s: [CC7.2]) or emit controls with the artifact", a.Type, a.Type))
	}
	for _, c := range controls {
		if err := ValidControlID(c); err != nil {
			return Permanent(fmt.Errorf("artifact %s: %w", a.Type, err))
		}
	}
	return nil
}
