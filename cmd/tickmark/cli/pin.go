package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tickmark-dev/tickmark/internal/config"
	"github.com/tickmark-dev/tickmark/internal/verify"
)

// pinFlags are --key and --key-id: the key a verifier expects the log to
// be signed with (or a key it announced), overriding verify.key and
// verify.key_id in the configuration.
type pinFlags struct{ key, keyID string }

func (p *pinFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&p.key, "key", "", "the expected public key: its text (<origin>+<id>+<base64>) or a .pub file; a log signed under another key fails")
	c.Flags().StringVar(&p.keyID, "key-id", "", "the expected key's ID (8 hex digits, as in keys/<id>.pub); a log signed under another key fails")
}

// pin returns the expected key: the flags, else the configuration's.
func (p *pinFlags) pin(cfg *config.Config) (verify.Pin, error) {
	key, id := p.key, p.keyID
	if key == "" && id == "" && cfg != nil {
		key, id = cfg.Verify.Key, cfg.Verify.KeyID
	}
	if key != "" && !strings.Contains(key, "+") {
		b, err := os.ReadFile(key)
		if err != nil {
			return verify.Pin{}, usageErr(fmt.Errorf("--key: %w", err), "give the key's text or the path of its .pub file")
		}
		key = strings.TrimSpace(string(b))
	}
	if err := config.ValidatePin(key, id); err != nil {
		return verify.Pin{}, usageErr(err, "the key is the content of log/<agent>/keys/<id>.pub")
	}
	return verify.Pin{Key: key, KeyID: id}, nil
}
