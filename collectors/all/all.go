// Package all imports every built-in collector for its registration side effect.
package all

import (
	_ "github.com/tickmark-dev/tickmark/collectors/aws"
	_ "github.com/tickmark-dev/tickmark/collectors/exec"
)
